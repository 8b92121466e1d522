"""Nothing lost, nothing stuck: a reaper that settles the executions nobody holds
any more (``heartbeat.py`` is how holders prove they still do).

The reaper runs in every process that runs executions — web processes from their
start, workers from theirs — so an execution is settled within
``WORKER_LOST_AFTER + REAPER_INTERVAL`` seconds even when no worker is left:

* ``running`` with a stale heartbeat: its worker died → ``failed`` / ``worker_lost``;
* ``running`` past ``EXECUTION_TIMEOUT`` (plus grace) *since it started* →
  ``failed`` / ``timeout`` (time spent waiting in the queue is not running time);
* ``queued`` in queue mode whose RQ job is gone (Redis restarted) → enqueued again
  (the claim's compare-and-set makes a duplicate job harmless);
* ``queued`` in local mode with a stale heartbeat: its process died → ``worker_lost``;
  so is a child run waiting for a place in its parent's thread, in either mode (no job
  of its own: enqueued, it would run outside its parent);
* held back for its owner's running limit, with room now → woken (``fairshare.py``).

Silence is judged against the reaper's own clock: when it looks later than planned
(its process was paused, or the whole machine froze and woke it first), as after a
database outage, every holder first gets ``WORKER_LOST_AFTER`` to beat again. And a run
is settled as lost only if its heartbeat is still stale at the moment of the write (a
compare-and-set on it too).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import or_, select

from ..background import BackgroundLoop, loop_for
from ..engine.errors import ErrorCode
from ..engine.status import ACTIVE, RunStatus
from ..evaluations import scoring
from ..extensions import db
from ..models import Execution, utcnow
from ..outages import database_unavailable
from . import fairshare
from .dispatch import Mode, dispatcher
from .records import LOST, settle

log = logging.getLogger(__name__)
ENQUEUE_GRACE = timedelta(seconds=5)  # between the commit and the enqueue, a job is legitimately absent
PAUSE_TOLERANCE = 1.0  # seconds a pass may come late (a busy machine) before it counts as a pause


def _always() -> bool:
    return True


def reap(app: Flask, judge_silence: Callable[[], bool] = _always) -> dict[str, int]:
    """One pass over active executions; returns how many it settled, requeued or woke.
    ``judge_silence()`` is False while silence is no sign of a lost worker yet (the
    database was just away, so no heartbeat could land; or the reaper itself was paused,
    and the workers perhaps with it). It is asked once the pass has read the clock, so a
    pause before that is seen; one after it makes no heartbeat look older than it is."""
    config = app.config
    now = utcnow()
    silence_counts = judge_silence()
    lost_before = now - timedelta(seconds=config["WORKER_LOST_AFTER"])
    started_before = now - timedelta(seconds=config["EXECUTION_TIMEOUT"] + config["WORKER_LOST_AFTER"])
    counts = {"worker_lost": 0, "requeued": 0, "timeout": 0, "woken": 0, "cases_scored": 0}
    with app.app_context():
        queue = dispatcher(app)
        rows = db.session.execute(
            select(
                Execution.id,
                Execution.status,
                Execution.created_at,
                Execution.started_at,
                Execution.heartbeat_at,
                Execution.job_id,
                Execution.parent_execution_id,
            ).where(
                Execution.status.in_(ACTIVE),
                Execution.queue == queue.lane,  # another deployment's runs are not ours to judge
                # A queued run's job may not be enqueued yet; a running one proves itself by heartbeat.
                or_(Execution.status == RunStatus.RUNNING, Execution.created_at < now - ENQUEUE_GRACE),
                Execution.waiting_since.is_(None),  # held back: woken below, not judged
            )
        ).all()
        db.session.commit()
        for row in rows:
            beat = row.heartbeat_at or row.created_at
            in_parent = row.parent_execution_id is not None  # held by its parent's thread, as a local run is
            if row.status == RunStatus.RUNNING and row.started_at is not None and row.started_at < started_before:
                message = f"the execution did not finish within {config['EXECUTION_TIMEOUT']:g} s"
                error = {"code": ErrorCode.TIMEOUT, "message": message, "node_id": None}
                counts["timeout"] += settle(row.id, RunStatus.FAILED, error, from_statuses=(RunStatus.RUNNING,))
            elif (
                row.status == RunStatus.QUEUED
                and queue.mode == Mode.QUEUE
                and not in_parent
                and not queue.job_is_live(row.job_id, config["WORKER_LOST_AFTER"])
            ):
                queue.requeue(row.id)
                counts["requeued"] += 1
            elif not silence_counts:
                continue
            elif beat < lost_before and (row.status == RunStatus.RUNNING or queue.mode == Mode.LOCAL or in_parent):
                counts["worker_lost"] += settle(
                    row.id, RunStatus.FAILED, LOST, from_statuses=(row.status,), unless_beaten_since=lost_before
                )
        counts["woken"] = _wake_held_back(queue, config["MAX_RUNNING_PER_USER"])
        counts["cases_scored"] = scoring.sweep(app)
    if any(counts.values()):
        log.warning("reaper: %s", counts)
    return counts


def _wake_held_back(queue, cap: int) -> int:
    """Runs held back for owners who have room now: a wake that was missed."""
    woken = 0
    for user_id, room in fairshare.owners_with_room(queue.lane, cap).items():
        for _ in range(room):
            execution_id = fairshare.wake_next(user_id, queue.lane)
            if execution_id is None:
                break
            queue.requeue(execution_id)
            woken += 1
    return woken


class Reaper(BackgroundLoop):
    """Runs ``reap`` every ``REAPER_INTERVAL`` seconds, once per process."""

    name = "reaper"

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        # After a database outage, or a pause of the reaper's own, silence counts again only
        # once every holder has had WORKER_LOST_AFTER to beat: else runs that rode the
        # outage out, or whose workers were paused with it, would be reaped.
        self.silence_counts_from = 0.0
        self.turn_ended: float | None = None  # time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.app.config["REAPER_ENABLED"]

    @property
    def interval(self) -> float:
        return self.app.config["REAPER_INTERVAL"]

    def turn(self) -> None:
        try:
            reap(self.app, judge_silence=self._silence_counts)
            if self.silence_counts_from == math.inf:  # the first pass since the database came back
                self.silence_counts_from = time.monotonic() + self.app.config["WORKER_LOST_AFTER"]
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            self.silence_counts_from = math.inf
            log.warning("reaper: database unavailable; will try again")
        finally:
            self.turn_ended = time.monotonic()

    def _silence_counts(self) -> bool:
        """Judged against the reaper's own clock: a pass later than its interval planned, by
        more than PAUSE_TOLERANCE, means this process was paused (or the whole machine froze,
        and woke it first). The workers may have been paused too: their silence counts again
        only WORKER_LOST_AFTER from now."""
        now = time.monotonic()
        late = 0.0 if self.turn_ended is None else now - self.turn_ended - self.interval
        if late > PAUSE_TOLERANCE:
            wait = self.app.config["WORKER_LOST_AFTER"]
            self.silence_counts_from = max(self.silence_counts_from, now + wait)
            log.warning("reaper: %.1f s late (paused?); silence counts again in %g s", late, wait)
        return now >= self.silence_counts_from


def reaper(app: Flask) -> Reaper:
    return loop_for(app, Reaper)
