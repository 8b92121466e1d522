"""Writing what a run did: node rows as the runner reports them, and settling an
execution from outside its runner (cancel, reaper, crash). Every status change is a
compare-and-set (``UPDATE … WHERE status = …``): whatever settles an execution first
is never overwritten by a later one."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from flask import Flask, current_app
from sqlalchemy import bindparam, case, func, select, update

from ..admission import aside
from ..engine.errors import ErrorCode
from ..engine.model_calls import ZERO_USAGE, TextSink, Usage
from ..engine.runner import NodeRecord, Observer, Stop
from ..engine.status import NodeStatus, RunStatus
from ..engine.stopping import Stopped
from ..extensions import db
from ..models import Execution, NodeRun, utcnow
from ..outages import ride_out, skipped_while_away
from ..services.limits import BudgetWatch
from .cancels import Hearing
from .events import RunEvents, announce_settled

STOP_CHECK_SECONDS = 0.5  # how stale a runner's view of "was I cancelled?" may be
# Set when the worker is asked to shut down: runs stop at the next node boundary
# and go back to the queue, to be resumed by another worker.
shutdown_requested = threading.Event()
# The hot path writes through the Core tables: the ORM's bulk-update machinery
# costs about twice as much per statement and buys nothing here.
executions = Execution.__table__
nodes = NodeRun.__table__
LOST = {
    "code": ErrorCode.WORKER_LOST,
    "message": "the worker running this execution stopped answering",
    "node_id": None,
}
CANCELLED = Stop(ErrorCode.CANCELLED, "cancelled on request", status=RunStatus.CANCELLED)
PARENT_STOPPED = Stop(ErrorCode.CANCELLED, "the execution it runs inside stopped", status=RunStatus.CANCELLED)


def settle(
    execution_id: str,
    status: str,
    error: dict | None,
    *,
    from_statuses: tuple[str, ...],
    unless_beaten_since: datetime | None = None,
) -> bool:
    """End an execution from outside its runner (cancel, reaper, crash). Nodes not
    yet finished end too: running ones as failed (or cancelled), pending ones cancelled.
    ``unless_beaten_since``: only if its holder has not beaten since (the reaper's)."""
    now = utcnow()
    settling = update(executions).where(executions.c.id == execution_id, executions.c.status.in_(from_statuses))
    if unless_beaten_since is not None:
        beat = func.coalesce(executions.c.heartbeat_at, executions.c.created_at)
        settling = settling.where(beat < unless_beaten_since)
    changed = db.session.execute(
        settling.values(status=status, error=error, finished_at=_not_before(executions.c.started_at, now))
    ).rowcount
    if changed:
        node_error = {"code": error["code"], "message": error["message"]} if error else None
        running_status = NodeStatus.CANCELLED if status == RunStatus.CANCELLED else NodeStatus.FAILED
        for from_status, to_status in (
            (NodeStatus.RUNNING, running_status),
            (NodeStatus.PENDING, NodeStatus.CANCELLED),
        ):
            finished = _not_before(nodes.c.started_at, now) if from_status == NodeStatus.RUNNING else None
            db.session.execute(
                update(nodes)
                .where(nodes.c.execution_id == execution_id, nodes.c.status == from_status)
                .values(status=to_status, error=node_error, finished_at=finished)
            )
    db.session.commit()
    if changed:
        announce_settled(current_app._get_current_object(), execution_id, status)
    return bool(changed)


def _not_before(started_at, now):
    """``now``, or the start if a claim on another machine read its clock later."""
    return case((started_at > now, started_at), else_=now)


class Recorder(Observer):
    """Turns runner callbacks into node rows. Writes are batched and flushed when
    the runner is about to wait (so a slow model call shows as running at once)
    and at the end (so a quick run costs one transaction, not one per node)."""

    def __init__(
        self,
        execution_id: str,
        budget: BudgetWatch | None = None,
        parent_stopped: Stopped | None = None,
        hearing: Hearing | None = None,
        events: RunEvents | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.events = events  # the run's event log (``events.py``): what listeners see as it happens
        self.budget = budget
        self.parent_stopped = parent_stopped  # a child run's: whether the run it is part of stopped
        self.hearing = hearing  # where this process hears the run's cancel (``cancels.py``)
        self.tokens, self.cost = 0, 0.0  # spent by this run so far
        self.pending: dict[str, dict] = {}
        self.checked_at = time.monotonic()

    def node_started(self, node_id: str, at: float) -> None:
        self.pending[node_id] = {"status": NodeStatus.RUNNING, "started_at": moment(at)}
        if self.events is not None:
            self.events.node_started(node_id)

    def node_settled(self, record: NodeRecord) -> None:
        self.pending[record.node_id] = row_values(record)
        if self.events is not None:
            self.events.node_finished(record)
        self.tokens += (record.usage or ZERO_USAGE).total_tokens
        self.cost += record.cost_usd

    def text_sink(self, node_id: str) -> TextSink | None:
        return self.events.text_sink(node_id) if self.events is not None else None

    def idle(self) -> None:
        with skipped_while_away("writing a run's progress"):  # kept in ``pending`` for the next flush
            self.flush()

    def waiting(self) -> AbstractContextManager:
        return aside()  # the run's turn among the worker's runs (``executor.py``), meanwhile

    def listen(self, stop_now: Callable[[Stop], None]) -> None:
        """A cancel heard, or the parent run's stop, ends the run at once (its waits wake)."""
        if self.hearing is not None:
            self.hearing.then(lambda: stop_now(CANCELLED))
        if self.parent_stopped is not None:
            self.parent_stopped.on_set(lambda: stop_now(PARENT_STOPPED))

    def should_stop(self) -> Stop | None:
        if self.parent_stopped is not None and self.parent_stopped():
            return PARENT_STOPPED
        if shutdown_requested.is_set() and self.parent_stopped is None:  # a child ends with its parent
            return Stop("worker_shutdown", "the worker is shutting down", status=RunStatus.QUEUED, drain=True)
        over = self.budget.exceeded(self.tokens, self.cost) if self.budget else None
        if over:
            return Stop("budget_exceeded", f"stopped: {over}", status=RunStatus.FAILED, drain=True)
        now = time.monotonic()
        if now - self.checked_at < STOP_CHECK_SECONDS:
            return None
        self.checked_at = now
        status = RunStatus.RUNNING  # while the database is away, nobody can have settled it
        with skipped_while_away("a run's stop check"):
            status = db.session.scalar(select(executions.c.status).where(executions.c.id == self.execution_id))
            db.session.commit()
        if status == RunStatus.CANCELLED:  # cancelled where no announcement reached us
            return CANCELLED
        if status != RunStatus.RUNNING:
            return Stop("worker_lost", f"the execution was already settled as {status}", status=status)
        return None

    def flush(self, commit: bool = True) -> None:
        """Write what changed since the last commit: one executemany per shape of row.
        Rows stay pending until committed, so a failed write is made again."""
        if not self.pending:
            return
        shapes: dict[tuple, list[dict]] = {}
        for node_id, values in self.pending.items():
            shapes.setdefault(tuple(values), []).append({"b_execution": self.execution_id, "b_node": node_id, **values})
        for columns, rows in shapes.items():
            db.session.execute(_node_update(columns), rows)
        if commit:
            db.session.commit()
            self.pending = {}


def count_late(app: Flask, execution_id: str, record: NodeRecord) -> None:
    """A node abandoned mid-call (its run ended) came back having spent: the provider bills
    the answer whether or not the run still waited, so the node's row shows what it spent
    and the execution's totals grow by it (its status stays). Called on the node's thread,
    after the run's outcome was written (``RunResult.when_late``)."""
    usage = record.usage or ZERO_USAGE
    if not (usage.total_tokens or record.cost_usd):
        return
    spent = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cost_usd": record.cost_usd,
    }

    def add() -> None:
        db.session.execute(
            update(nodes)
            .where(nodes.c.execution_id == execution_id, nodes.c.node_id == record.node_id)
            .values(**spent, attempts=record.attempts)
        )
        db.session.execute(
            update(executions)
            .where(executions.c.id == execution_id)
            .values({executions.c[name]: func.coalesce(executions.c[name], 0) + value for name, value in spent.items()})
        )
        db.session.commit()

    with app.app_context():
        ride_out(add, what=f"counting what {execution_id} spent late", window=app.config["DATABASE_OUTAGE_WINDOW"])


@functools.cache
def _node_update(columns: tuple[str, ...]):
    """One node row's update for a shape of values, built once (every node of every run writes)."""
    return (
        update(nodes)
        .where(nodes.c.execution_id == bindparam("b_execution"), nodes.c.node_id == bindparam("b_node"))
        .values({column: bindparam(column) for column in columns})
    )


def row_values(record: NodeRecord) -> dict:
    usage = record.usage
    return {
        "status": record.status,
        "started_at": moment(record.started_at),
        "finished_at": moment(record.finished_at),
        "input": record.input,
        "output": record.output,
        "error": record.error,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
        "total_tokens": usage.total_tokens if usage else None,
        "cost_usd": record.cost_usd,
        "cost_saved_usd": record.cost_saved_usd,
        "cached": record.cached,
        "attempts": record.attempts,
        "reused_from": record.reused_from,
    }


def record_of(row) -> NodeRecord:
    usage = (
        None
        if row.prompt_tokens is None
        else Usage(row.prompt_tokens, row.completion_tokens or 0, row.total_tokens or 0)
    )
    return NodeRecord(
        row.node_id,
        row.type,
        row.status,
        output=row.output,
        usage=usage,
        cost_usd=row.cost_usd,
        cost_saved_usd=row.cost_saved_usd,
        cached=row.cached,
        attempts=row.attempts,
        reused_from=row.reused_from,
    )


def totals(records) -> dict:
    totals = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost_usd": 0.0, "cost_saved_usd": 0.0}
    for record in records:
        usage = record.usage or ZERO_USAGE
        totals["prompt_tokens"] += usage.prompt_tokens
        totals["completion_tokens"] += usage.completion_tokens
        totals["total_tokens"] += usage.total_tokens
        totals["cost_usd"] += record.cost_usd
        totals["cost_saved_usd"] += record.cost_saved_usd
    return totals


def moment(at: float | None) -> datetime | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).replace(tzinfo=None)
