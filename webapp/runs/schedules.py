"""The scheduler: starts each due schedule's execution, exactly once per due time.

Every web process runs it (``Scheduler``, a background loop); however many do, a due
time is claimed with a compare-and-set on the trigger's ``next_run_at`` (``UPDATE …
WHERE next_run_at = <the due time read>``) in the same transaction that records the
execution, so one process wins and the others find nothing to do. The claim moves
``next_run_at`` past now: times missed while nothing ran give one catch-up run.
"""

from __future__ import annotations

import itertools
import logging

from flask import Flask
from sqlalchemy import select, update

from ..background import BackgroundLoop, loop_for
from ..engine.status import Trigger as Started
from ..engine.status import TriggerType
from ..errors import ServiceError
from ..extensions import db
from ..models import Trigger, User, Workflow, utcnow
from ..services import audit
from ..services.triggers import next_due
from .start import start_execution

log = logging.getLogger(__name__)


def fire_due(now=None) -> int:
    """Start the execution of every due schedule this process claims; how many.

    Round-robin across owners: each owner's oldest due schedule, then each one's next,
    and so on, so one user's thousand schedules cannot hold up another's (whose wait is
    one round, not the thousand). Each schedule fires at most once a call: a call
    longer than a schedule's period leaves its next due time to the next call."""
    now = now or utcnow()
    due = db.session.execute(
        select(Trigger.id, Trigger.next_run_at, Workflow.owner_id)
        .join(Workflow, Workflow.id == Trigger.workflow_id)
        .where(
            Trigger.type == TriggerType.SCHEDULE,
            Trigger.enabled.is_(True),
            Trigger.next_run_at <= now,
            Workflow.deleted_at.is_(None),
        )
        .order_by(Trigger.next_run_at, Trigger.id)
    ).all()
    db.session.commit()
    return sum(_fire(trigger_id, due_at, now) for trigger_id, due_at in round_robin(due))


def round_robin(due: list) -> list[tuple]:
    """(trigger id, due time) taking turns between owners: each one's first, then each
    one's second…; owners in the order of their oldest due schedule."""
    queues: dict[str, list] = {}
    for trigger_id, due_at, owner_id in due:
        queues.setdefault(owner_id, []).append((trigger_id, due_at))
    rounds = itertools.zip_longest(*queues.values())
    return [turn for round_ in rounds for turn in round_ if turn is not None]


def _claim(trigger_id: str, due_at, following) -> bool:
    """Move the schedule past ``due_at`` if no one else has: the compare-and-set."""
    claimed = db.session.execute(
        update(Trigger)
        .where(Trigger.id == trigger_id, Trigger.next_run_at == due_at)
        .values(next_run_at=following, last_run_at=due_at)
    )
    return claimed.rowcount == 1


class _Taken(Exception):
    """Another process claimed this due time first."""


def _fire(trigger_id: str, due_at, now) -> int:
    """Start the run of one due time, with its claim in the same commit (last, so no
    write lock is held while the execution is counted against the owner's limits)."""
    trigger = db.session.get(Trigger, trigger_id)
    following = next_due(trigger, now)
    workflow = db.session.get(Workflow, trigger.workflow_id)
    owner = db.session.get(User, workflow.owner_id)

    def claim(_: object) -> None:
        if not _claim(trigger_id, due_at, following):
            raise _Taken

    try:
        start_execution(owner, workflow.id, trigger.inputs, trigger=Started.SCHEDULE, trigger_id=trigger_id, also=claim)
    except _Taken:
        db.session.rollback()
        return 0
    except ServiceError as exc:  # over a budget or a limit, inputs no longer valid: this time is skipped
        db.session.rollback()
        if _claim(trigger_id, due_at, following):
            audit.record("trigger.skipped", owner, "trigger", trigger_id, details={"reason": exc.message})
        db.session.commit()
        return 0
    return 1


class Scheduler(BackgroundLoop):
    """Looks for due schedules every ``SCHEDULER_INTERVAL`` seconds, in every web process."""

    name = "scheduler"

    @property
    def enabled(self) -> bool:
        return self.app.config["SCHEDULER_ENABLED"]

    @property
    def interval(self) -> float:
        return self.app.config["SCHEDULER_INTERVAL"]

    def turn(self) -> None:
        with self.app.app_context():
            fired = fire_due()
        if fired:
            log.info("scheduler: started %d scheduled execution(s)", fired)


def scheduler(app: Flask) -> Scheduler:
    return loop_for(app, Scheduler)
