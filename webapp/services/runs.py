"""Running one execution: claim it, drive the engine, record every node, settle it.

``run_execution`` is what both an RQ worker (``tasks.py``) and the local thread pool
call. Every status change is a compare-and-set (``UPDATE … WHERE status = …``), so
two workers never run one execution, and whatever settles an execution first —
the runner, a cancel, the reaper — is never overwritten by a later one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import bindparam, case, func, select, update

from ..dispatch import dispatcher
from ..engine import runner
from ..engine.definition import Graph
from ..engine.model_calls import ZERO_USAGE, Usage
from ..engine.runner import Limits, NodeRecord, Observer, RunResult, Stop
from ..extensions import db
from ..llm import gateway_for
from ..models import Execution, NodeRun, User, WorkflowVersion, utcnow
from ..models.execution import CANCELLED, COMPLETED, FAILED, QUEUED, RUNNING
from .definitions import graph_for
from .limits import BudgetWatch, watch_budget
from .recovery import heartbeat

log = logging.getLogger(__name__)
STOP_CHECK_SECONDS = 0.5  # how stale a runner's view of "was I cancelled?" may be
# Set when the worker is asked to shut down: runs stop at the next node boundary
# and go back to the queue, to be resumed by another worker.
shutdown_requested = threading.Event()
# The hot path writes through the Core tables: the ORM's bulk-update machinery
# costs about twice as much per statement and buys nothing here.
_executions = Execution.__table__
_nodes = NodeRun.__table__
LOST = {"code": "worker_lost", "message": "the worker running this execution stopped answering", "node_id": None}


def run_execution(execution_id: str) -> None:
    claim = _claim(execution_id)
    if claim is None:
        return  # already taken, finished or cancelled: nothing to do, nothing to undo
    beats = heartbeat(current_app._get_current_object())
    beats.add(execution_id)
    try:
        result, recorder = _run(execution_id, claim)
        _finish(execution_id, result, recorder)
    except Exception as exc:
        db.session.rollback()
        log.exception("execution %s crashed", execution_id)
        # The details (which may hold SQL and parameters) go to the log, not to the user.
        message = f"internal error ({type(exc).__name__}); the details are in the server log"
        settle(
            execution_id, FAILED, {"code": "node_failed", "message": message, "node_id": None}, from_statuses=(RUNNING,)
        )
    finally:
        beats.discard(execution_id)
        dispatcher().notify_finished(execution_id)


@dataclass
class _Claim:
    """What a run needs, read in the same short transaction that claimed it."""

    graph: Graph
    inputs: dict
    started_at: datetime
    budget: BudgetWatch | None
    prior: dict[str, NodeRecord]


def _claim(execution_id: str) -> _Claim | None:
    """Queued → running, atomically (UPDATE … WHERE status = 'queued' RETURNING …):
    of several workers handed the same execution, exactly one gets a row back."""
    now = utcnow()
    row = db.session.execute(
        update(_executions)
        .where(_executions.c.id == execution_id, _executions.c.status == QUEUED)
        .values(
            status=RUNNING,
            started_at=func.coalesce(_executions.c.started_at, now),  # a resumed run keeps its first start
            heartbeat_at=now,
            runner=f"{socket.gethostname()}:{os.getpid()}",
        )
        .returning(
            _executions.c.workflow_id,
            _executions.c.workflow_version,
            _executions.c.inputs,
            _executions.c.started_at,
            _executions.c.retry_of,
            _executions.c.user_id,
        )
    ).first()
    if row is None:
        db.session.commit()
        return None
    overrides = db.session.execute(select(User.token_budget, User.cost_budget).where(User.id == row.user_id)).one()
    prior = {}
    if row.retry_of is not None or row.started_at != now:  # a retry's copied nodes, or a resumed run's own
        completed = select(_nodes).where(_nodes.c.execution_id == execution_id, _nodes.c.status == COMPLETED)
        prior = {node.node_id: _record_of(node) for node in db.session.execute(completed)}
    graph = graph_for(row.workflow_id, row.workflow_version, lambda: _definition(row.workflow_id, row.workflow_version))
    claim = _Claim(graph, row.inputs, row.started_at, watch_budget(row.user_id, *overrides), prior)
    db.session.commit()  # a long run must not hold a transaction open
    return claim


def _run(execution_id: str, claim: _Claim) -> tuple[RunResult, Recorder]:
    config = current_app.config
    elapsed = (utcnow() - claim.started_at).total_seconds()
    limits = Limits(
        max_parallel=config["NODE_CONCURRENCY"],
        max_output_bytes=config["MAX_NODE_OUTPUT_BYTES"],
        timeout=max(config["EXECUTION_TIMEOUT"] - elapsed, 0.001),
    )
    recorder = Recorder(execution_id, claim.budget)
    result = runner.run(
        claim.graph, claim.inputs, recorder, models=gateway_for(current_app), limits=limits, prior=claim.prior
    )
    return result, recorder


def _definition(workflow_id: str, version: int) -> dict:
    return db.session.get(WorkflowVersion, (workflow_id, version)).definition


def _finish(execution_id: str, result: RunResult, recorder: Recorder) -> None:
    """The last node rows and the execution's outcome, in one transaction."""
    recorder.flush(commit=False)
    if result.status == QUEUED:  # drained for a shutdown: hand back to the queue
        _requeue(execution_id)
        return
    totals = _totals(result.records.values())
    settled = db.session.execute(
        update(_executions)
        .where(_executions.c.id == execution_id, _executions.c.status == RUNNING)
        .values(status=result.status, outputs=result.outputs, error=result.error, finished_at=utcnow(), **totals)
    ).rowcount
    if not settled:  # cancelled or reaped meanwhile: keep that status, but count what was spent
        db.session.execute(update(_executions).where(_executions.c.id == execution_id).values(**totals))
    db.session.commit()


def _requeue(execution_id: str) -> None:
    """Back to ``queued`` with its completed nodes kept (they are reused on resume),
    unless a cancel or the reaper settled it meanwhile."""
    requeued = db.session.execute(
        update(_executions)
        .where(_executions.c.id == execution_id, _executions.c.status == RUNNING)
        .values(status=QUEUED)
    ).rowcount
    if requeued:
        db.session.execute(
            update(_nodes)
            .where(_nodes.c.execution_id == execution_id, _nodes.c.status != COMPLETED)
            .values(status="pending", started_at=None, finished_at=None, error=None, output=None, input=None)
        )
    db.session.commit()
    if requeued:
        requeue(execution_id)
        log.info("execution %s handed back to the queue for another worker", execution_id)


def requeue(execution_id: str) -> None:
    """Hand a queued execution to the dispatcher again, under a new job id recorded
    first: if the enqueue itself is lost, the reaper sees a job id naming no job."""
    queue = dispatcher()
    job_id = queue.new_job_id(execution_id)
    db.session.execute(update(_executions).where(_executions.c.id == execution_id).values(job_id=job_id))
    db.session.commit()
    queue.submit(execution_id, job_id)


def settle(execution_id: str, status: str, error: dict | None, *, from_statuses: tuple[str, ...]) -> bool:
    """End an execution from outside its runner (cancel, reaper, crash). Nodes not
    yet finished end too: running ones as failed (or cancelled), pending ones cancelled."""
    now = utcnow()
    changed = db.session.execute(
        update(_executions)
        .where(_executions.c.id == execution_id, _executions.c.status.in_(from_statuses))
        .values(status=status, error=error, finished_at=_not_before(_executions.c.started_at, now))
    ).rowcount
    if changed:
        node_error = {"code": error["code"], "message": error["message"]} if error else None
        running_status = CANCELLED if status == CANCELLED else FAILED
        for from_status, to_status in (("running", running_status), ("pending", CANCELLED)):
            finished = _not_before(_nodes.c.started_at, now) if from_status == "running" else None
            db.session.execute(
                update(_nodes)
                .where(_nodes.c.execution_id == execution_id, _nodes.c.status == from_status)
                .values(status=to_status, error=node_error, finished_at=finished)
            )
    db.session.commit()
    return bool(changed)


def _not_before(started_at, now):
    """``now``, or the start if a claim on another machine read its clock later."""
    return case((started_at > now, started_at), else_=now)


class Recorder(Observer):
    """Turns runner callbacks into node rows. Writes are batched and flushed when
    the runner is about to wait (so a slow model call shows as running at once)
    and at the end (so a quick run costs one transaction, not one per node)."""

    def __init__(self, execution_id: str, budget: BudgetWatch | None = None) -> None:
        self.execution_id = execution_id
        self.budget = budget
        self.tokens, self.cost = 0, 0.0  # spent by this run so far
        self.pending: dict[str, dict] = {}
        self.checked_at = time.monotonic()

    def node_started(self, node_id: str, at: float) -> None:
        self.pending[node_id] = {"status": "running", "started_at": _moment(at)}

    def node_settled(self, record: NodeRecord) -> None:
        self.pending[record.node_id] = _row_values(record)
        self.tokens += (record.usage or ZERO_USAGE).total_tokens
        self.cost += record.cost_usd

    def idle(self) -> None:
        self.flush()

    def should_stop(self) -> Stop | None:
        if shutdown_requested.is_set():
            return Stop("worker_shutdown", "the worker is shutting down", status=QUEUED, drain=True)
        over = self.budget.exceeded(self.tokens, self.cost) if self.budget else None
        if over:
            return Stop("budget_exceeded", f"stopped: {over}", status=FAILED, drain=True)
        now = time.monotonic()
        if now - self.checked_at < STOP_CHECK_SECONDS:
            return None
        self.checked_at = now
        status = db.session.scalar(select(_executions.c.status).where(_executions.c.id == self.execution_id))
        db.session.commit()
        if status == CANCELLED:
            return Stop("cancelled", "cancelled on request", status=CANCELLED)
        if status != RUNNING:
            return Stop("worker_lost", f"the execution was already settled as {status}", status=status)
        return None

    def flush(self, commit: bool = True) -> None:
        """Write what changed since the last flush: one executemany per shape of row."""
        pending, self.pending = self.pending, {}
        shapes: dict[tuple, list[dict]] = {}
        for node_id, values in pending.items():
            shapes.setdefault(tuple(values), []).append({"b_execution": self.execution_id, "b_node": node_id, **values})
        for columns, rows in shapes.items():
            statement = (
                update(_nodes)
                .where(_nodes.c.execution_id == bindparam("b_execution"), _nodes.c.node_id == bindparam("b_node"))
                .values({column: bindparam(column) for column in columns})
            )
            db.session.execute(statement, rows)
        if commit and pending:
            db.session.commit()


def _row_values(record: NodeRecord) -> dict:
    usage = record.usage
    return {
        "status": record.status,
        "started_at": _moment(record.started_at),
        "finished_at": _moment(record.finished_at),
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


def _record_of(row) -> NodeRecord:
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


def _totals(records) -> dict:
    totals = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost_usd": 0.0, "cost_saved_usd": 0.0}
    for record in records:
        usage = record.usage or ZERO_USAGE
        totals["prompt_tokens"] += usage.prompt_tokens
        totals["completion_tokens"] += usage.completion_tokens
        totals["total_tokens"] += usage.total_tokens
        totals["cost_usd"] += record.cost_usd
        totals["cost_saved_usd"] += record.cost_saved_usd
    return totals


def _moment(at: float | None) -> datetime | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).replace(tzinfo=None)
