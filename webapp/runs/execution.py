"""Running one execution: claim it, drive the engine, record every node, settle it.

``run_execution`` is what every executor thread calls, in a web process (local mode)
or an RQ worker (queue mode). The claim is a compare-and-set (``UPDATE … WHERE
status = 'queued'``), so two workers never run one execution, and it also holds the
owner to ``MAX_RUNNING_PER_USER`` (``fairshare.py``), child runs too: a child with no
place free waits for one in its parent's thread, while its parent lends it its own
(``places.py``). What happens next to the run —
a waiting request told, a handed-back run requeued, the owner's next run woken — is
the dispatcher's business: this module only reports how the run ended.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from flask import Flask, current_app
from sqlalchemy import bindparam, func, select, update

from ..engine import runner
from ..engine.definition import Graph
from ..engine.errors import ErrorCode
from ..engine.isolation import Bounds, SandboxPool
from ..engine.runner import Limits, NodeRecord, RunResult
from ..engine.status import NodeStatus, RunStatus, Trigger
from ..extensions import db
from ..llm import ProviderSettings, gateway_for
from ..models import User, utcnow
from ..outages import database_unavailable, ride_out
from ..outbound import http_client_for
from ..services.definitions import graph_of_run
from ..services.limits import BudgetedModels, BudgetWatch, watch_budget
from ..services.providers import provider_names, settings_for
from . import cancels, fairshare, places
from .children import ChildRuns, Nested
from .events import RunEvents
from .places import Place, PlacedModels
from .records import PARENT_STOPPED, Recorder, count_late, executions, nodes, record_of, settle, totals

log = logging.getLogger(__name__)


class Ended(StrEnum):
    """How a call of ``run_execution`` left the execution."""

    SETTLED = "settled"  # finished, failed or cancelled
    HANDED_BACK = "handed_back"  # drained for a shutdown: queued again, to resume elsewhere
    WAITING = "waiting"  # its owner is at MAX_RUNNING_PER_USER: held back, queued
    NOT_CLAIMED = "not_claimed"  # already taken, finished or cancelled: nothing done


@dataclass(frozen=True)
class Outcome:
    ended: Ended
    woken: str | None = None  # the owner's held-back run this one's end let start
    scored: bool = False  # settled, and a test run's case to score (``evaluations/scoring.py``)


def run_execution(execution_id: str, nested: Nested | None = None) -> Outcome:
    """Claim, run, record. Each transaction rides out a database outage of up to
    ``DATABASE_OUTAGE_WINDOW`` (the run meanwhile goes on, its results in memory).
    A ``nested`` run claims a place as any run does, waiting for one in its parent's thread.
    Its cancel is heard here from before the claim (``cancels.py``)."""
    with cancels.hearing(execution_id) as hearing:
        return _claim_and_run(execution_id, nested, hearing)


def _claim_and_run(execution_id: str, nested: Nested | None, hearing: cancels.Hearing) -> Outcome:
    app = current_app._get_current_object()
    window = app.config["DATABASE_OUTAGE_WINDOW"]
    claiming = functools.partial(
        ride_out, lambda: _claim(execution_id, nested is not None), what=f"claiming {execution_id}", window=window
    )
    claim = claiming()
    if nested is not None and claim == Outcome(Ended.WAITING):  # no place free: it waits here, in its parent
        hearing.then(places.freed)  # its own cancel ends the wait too
        given_up = lambda: nested.stopped() or hearing.heard  # noqa: E731
        while claim == Outcome(Ended.WAITING):
            if not places.wait_for_room(app, nested.owner, app.config["MAX_RUNNING_PER_USER"], given_up):
                return ride_out(lambda: _not_started(execution_id), what=f"settling {execution_id}", window=window)
            claim = claiming()
    if isinstance(claim, Outcome):
        return claim
    events = RunEvents(app, execution_id)
    events.started()
    try:
        result, recorder = _run(execution_id, claim, nested, hearing, events)
        outcome = ride_out(
            lambda: _finish(execution_id, claim, result, recorder), what=f"recording {execution_id}", window=window
        )
        if outcome.ended == Ended.SETTLED:
            events.finished(result.status)
        result.when_late(functools.partial(count_late, app, execution_id))  # nodes abandoned mid-call
        return outcome
    except Exception as exc:
        if database_unavailable(exc):
            raise  # away for longer than the window: the reaper settles the run once it is back
        db.session.rollback()
        log.exception("execution %s crashed", execution_id)
        # The details (which may hold SQL and parameters) go to the log, not to the user.
        message = f"internal error ({type(exc).__name__}); the details are in the server log"
        error = {"code": ErrorCode.NODE_FAILED, "message": message, "node_id": None}

        def fail() -> Outcome:
            settle(execution_id, RunStatus.FAILED, error, from_statuses=(RunStatus.RUNNING,))  # announced there
            return Outcome(Ended.SETTLED, _wake_next(claim), claim.test)

        return ride_out(fail, what=f"settling {execution_id}", window=window)


@dataclass
class _Claim:
    """What a run needs, read in the same short transaction that claimed it."""

    user_id: str
    workflow_id: str
    lane: str  # local, or the RQ queue: where the owner's held-back runs it may wake wait
    graph: Graph
    inputs: dict
    started_at: datetime
    budget: BudgetWatch | None
    prior: dict[str, NodeRecord]
    providers: dict[str, ProviderSettings]  # the running user's, named by the graph's model nodes
    only: frozenset[str] | None = None  # a test run ``until`` a node: that node and what is upstream of it
    test: bool = False  # ``trigger: "test"``: it may be a test run's case, to score once settled


@functools.cache
def _claim_statement(cap: int):
    """The claim, built once per bound (it is on every run's path): queued → running,
    returning what the run needs, its owner's budgets too, in one round trip."""
    users = User.__table__
    now = bindparam("now", type_=executions.c.started_at.type)
    return (
        update(executions)
        .where(executions.c.id == bindparam("execution_id"), executions.c.status == RunStatus.QUEUED)
        .where(*fairshare.room_for_owner(cap))
        .values(
            status=RunStatus.RUNNING,
            started_at=func.coalesce(executions.c.started_at, now),  # a resumed run keeps its first start
            heartbeat_at=now,
            waiting_since=None,
            lending=False,
            runner=bindparam("runner"),
        )
        .returning(
            executions.c.workflow_id,
            executions.c.workflow_version,
            executions.c.inputs,
            executions.c.started_at,
            executions.c.retry_of,
            executions.c.trigger,
            executions.c.definition,
            executions.c.run_until,
            executions.c.user_id,
            executions.c.queue,
            *(
                select(column).where(users.c.id == executions.c.user_id).scalar_subquery().label(column.name)
                for column in (users.c.token_budget, users.c.cost_budget)
            ),
        )
    )


def _claim(execution_id: str, nested: bool = False, retry: bool = True) -> _Claim | Outcome:
    """Queued → running, atomically (UPDATE … WHERE status = 'queued' RETURNING …):
    of several workers handed the same execution, exactly one gets a row back, and
    only while its owner holds fewer than MAX_RUNNING_PER_USER places."""
    cap = current_app.config["MAX_RUNNING_PER_USER"]
    if cap > 0:
        fairshare.lock_owner(fairshare.owner_of(execution_id))
    now = utcnow()
    row = db.session.execute(
        _claim_statement(cap),
        {"execution_id": execution_id, "now": now, "runner": f"{socket.gethostname()}:{os.getpid()}"},
    ).first()
    if row is None:
        db.session.commit()
        return _not_claimed(execution_id, cap, retry) if not nested else _waits_in_parent(execution_id)
    prior = {}
    # A retry's copied nodes, a test run's pinned ones, or a resumed run's own.
    if row.retry_of is not None or row.trigger == Trigger.TEST or row.started_at != now:
        completed = select(nodes).where(nodes.c.execution_id == execution_id, nodes.c.status == NodeStatus.COMPLETED)
        prior = {node.node_id: record_of(node) for node in db.session.execute(completed)}
    graph = graph_of_run(row.workflow_id, row.workflow_version, row.definition)
    only = graph.upstream_of(row.run_until) if row.run_until is not None else None
    budget = watch_budget(row.user_id, row.token_budget, row.cost_budget)
    providers = settings_for(row.user_id, provider_names(graph.nodes.values()))
    claim = _Claim(
        row.user_id,
        row.workflow_id,
        row.queue,
        graph,
        row.inputs,
        row.started_at,
        budget,
        prior,
        providers,
        only,
        test=row.trigger == Trigger.TEST,
    )
    db.session.commit()  # a long run must not hold a transaction open
    return claim


def _not_claimed(execution_id: str, cap: int, retry: bool) -> _Claim | Outcome:
    """Taken or settled by someone else, or still queued because the owner is full:
    then it waits, and is tried once more in case a slot opened meanwhile (the run
    that freed it may have looked for waiting runs before this one was marked)."""
    owner = fairshare.hold_back(execution_id)
    if owner is None:
        return Outcome(Ended.NOT_CLAIMED)
    if retry:
        return _claim(execution_id, retry=False)
    return Outcome(Ended.WAITING)


def _waits_in_parent(execution_id: str) -> Outcome:
    """A child run its owner has no place for: not held back (no one else may start it: its
    parent's thread waits and claims again), WAITING while it is still queued."""
    status = db.session.scalar(select(executions.c.status).where(executions.c.id == execution_id))
    db.session.commit()
    return Outcome(Ended.WAITING if status == RunStatus.QUEUED else Ended.NOT_CLAIMED)


def _not_started(execution_id: str) -> Outcome:
    """Its parent stopped while it waited for a place (or it was cancelled: then settled already)."""
    error = {"code": PARENT_STOPPED.code, "message": PARENT_STOPPED.message, "node_id": None}
    settle(execution_id, PARENT_STOPPED.status, error, from_statuses=(RunStatus.QUEUED,))
    return Outcome(Ended.SETTLED)


def _run(
    execution_id: str, claim: _Claim, nested: Nested | None, hearing: cancels.Hearing, events: RunEvents
) -> tuple[RunResult, Recorder]:
    app = current_app._get_current_object()
    config = app.config
    left = config["EXECUTION_TIMEOUT"] - (utcnow() - claim.started_at).total_seconds()
    if nested is not None and nested.deadline is not None:  # a child ends by its parent's deadline
        left = min(left, nested.deadline - time.monotonic())
    limits = Limits(
        max_parallel=config["NODE_CONCURRENCY"],
        max_output_bytes=config["MAX_NODE_OUTPUT_BYTES"],
        max_input_bytes=config["MAX_INPUT_BYTES"],
        max_map_items=config["MAX_MAP_ITEMS"],
        timeout=max(left, 0.001),
    )
    recorder = Recorder(
        execution_id, claim.budget, parent_stopped=nested.stopped if nested else None, hearing=hearing, events=events
    )
    stack = (*(nested.stack if nested else ()), claim.workflow_id)
    models = gateway_for(app).for_owner(claim.user_id, claim.providers)
    place = Place(app, execution_id, claim.user_id) if config["MAX_RUNNING_PER_USER"] > 0 else None
    if place is not None:
        models = PlacedModels(models, place)
    if claim.budget is not None:
        models = BudgetedModels(models, claim.budget)
    result = runner.run(
        claim.graph,
        claim.inputs,
        recorder,
        models=models,
        http=http_client_for(app),
        workflows=ChildRuns(app, execution_id, claim.user_id, stack, claim.lane, run_execution, place),
        limits=limits,
        prior=claim.prior,
        only=claim.only,
        isolation=sandboxes(app),
    )
    return result, recorder


def sandboxes(app: Flask) -> SandboxPool:
    """This process's sandbox processes, where users' templates run (``engine/isolation.py``)."""
    pool = app.extensions.get("sandboxes")
    if pool is None:
        config = app.config
        bounds = Bounds(
            memory_bytes=config["SANDBOX_MEMORY_MB"] * 2**20,
            step_timeout=config["SANDBOX_STEP_TIMEOUT"],
            max_chars=config["MAX_RENDER_CHARS"],
            max_output_bytes=config["MAX_NODE_OUTPUT_BYTES"],
        )
        pool = app.extensions.setdefault("sandboxes", SandboxPool(config["SANDBOX_PROCESSES"], bounds))
    return pool


def _finish(execution_id: str, claim: _Claim, result: RunResult, recorder: Recorder) -> Outcome:
    """The last node rows, the execution's outcome and the wake of the owner's next
    held-back run (this one's slot is free), in one transaction."""
    recorder.flush(commit=False)
    ended = _hand_back(execution_id) if result.status == RunStatus.QUEUED else _record_outcome(execution_id, result)
    return Outcome(ended, _wake_next(claim), claim.test and ended == Ended.SETTLED)


def _wake_next(claim: _Claim) -> str | None:
    """Commit; with a bound per user, first wake the owner's oldest held-back run (and
    the waiters for a place in this process: child runs, runs taking theirs back)."""
    if current_app.config["MAX_RUNNING_PER_USER"] <= 0:
        db.session.commit()
        return None
    woken = fairshare.wake_next(claim.user_id, claim.lane)
    places.freed()
    return woken


_SPENT = ("prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "cost_saved_usd")
# The outcome, built once: running → its end, with what the run spent.
_SETTLE = (
    update(executions)
    .where(executions.c.id == bindparam("execution_id"), executions.c.status == RunStatus.RUNNING)
    .values(
        {
            name: bindparam(name, type_=executions.c[name].type)
            for name in ("status", "outputs", "error", "finished_at", *_SPENT)
        }
    )
)


def _record_outcome(execution_id: str, result: RunResult) -> Ended:
    spent = totals(result.records.values())
    settled = db.session.execute(
        _SETTLE,
        {
            "execution_id": execution_id,
            "status": result.status,
            "outputs": result.outputs,
            "error": result.error,
            "finished_at": utcnow(),
            **spent,
        },
    ).rowcount
    if not settled:  # cancelled or reaped meanwhile: keep that status, but count what was spent
        db.session.execute(update(executions).where(executions.c.id == execution_id).values(**spent))
    return Ended.SETTLED


def _hand_back(execution_id: str) -> Ended:
    """Back to ``queued`` with its completed nodes kept (they are reused on resume),
    unless a cancel or the reaper settled it meanwhile."""
    requeued = db.session.execute(
        update(executions)
        .where(executions.c.id == execution_id, executions.c.status == RunStatus.RUNNING)
        .values(status=RunStatus.QUEUED)
    ).rowcount
    if requeued:
        db.session.execute(
            update(nodes)
            .where(nodes.c.execution_id == execution_id, nodes.c.status != NodeStatus.COMPLETED)
            .values(status=NodeStatus.PENDING, started_at=None, finished_at=None, error=None, output=None, input=None)
        )
    return Ended.HANDED_BACK if requeued else Ended.SETTLED
