"""Executions as people see them: start one, wait for it, read, cancel, retry, count.

Starting is careful about order: the inputs are checked against the input node
before anything is written (a 422 leaves no trace), then the execution and one
row per node are committed, and only then handed to a worker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .. import admission
from ..engine.errors import InputError, Problem
from ..engine.status import ACTIVE, NodeStatus, RunStatus, Trigger
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..models import (
    Execution,
    ExecutionCount,
    IdempotencyKey,
    User,
    Workflow,
    new_id,
    utcnow,
)
from ..models.workflow import visible_to
from ..ratelimits import count_execution
from ..runs import dispatcher, settle
from ..runs.rows import insert_execution
from . import audit
from .definitions import graph_for
from .limits import check_budget
from .workflows import runnable_workflow

MAX_IDEMPOTENCY_KEY = 255
_counts = ExecutionCount.__table__


def own_execution(user: User, execution_id: str) -> Execution:
    execution = db.session.get(Execution, execution_id) if isinstance(execution_id, str) else None
    if execution is None or execution.user_id != user.id:
        raise NotFound(f"No execution '{execution_id}'")
    return execution


# -- starting ---------------------------------------------------------------------------


def start_execution(
    user: User,
    workflow_id: str,
    inputs: Any,
    *,
    idempotency_key: str | None = None,
    trigger: Trigger = Trigger.API,
    trigger_id: str | None = None,
    also: Callable[[], None] | None = None,
) -> Execution:
    """Validate, record and dispatch a run. A repeated ``idempotency_key`` (same user,
    within ``IDEMPOTENCY_TTL``) returns the execution the first request started."""
    workflow = runnable_workflow(user, workflow_id)
    if idempotency_key is not None:
        _check_idempotency_key(idempotency_key)
        earlier = _execution_for_key(user, idempotency_key)
        if earlier is not None and earlier.workflow_id != workflow.id:
            raise Conflict("This Idempotency-Key was already used to run another workflow")
        if earlier is not None:
            return earlier
    graph = graph_for(workflow.id, workflow.version)
    values = _validated_inputs(graph, inputs)
    check_budget(user)
    count_execution(user.id)
    execution = _new_execution(
        graph,
        workflow_id=workflow.id,
        workflow_version=workflow.version,
        user_id=user.id,
        inputs=values,
        trigger=trigger,
        trigger_id=trigger_id,
    )
    audit.record("execution.started", user, "execution", execution.id, details={"workflow_id": workflow.id})
    if idempotency_key is not None:
        db.session.add(IdempotencyKey(user_id=user.id, key=idempotency_key, execution_id=execution.id))
        try:
            db.session.flush()
        except IntegrityError:  # the same key raced us: the other request's execution wins
            db.session.rollback()
            return _execution_for_key(user, idempotency_key)
    if also is not None:  # a caller's own write in the same commit (a schedule's claim); it may raise
        also()
    db.session.commit()
    _dispatch(execution)
    return execution


def _validated_inputs(graph, inputs: Any) -> dict:
    if inputs is None:
        inputs = {}
    limit = current_app.config["MAX_INPUT_BYTES"]
    size = len(json.dumps(inputs, ensure_ascii=False))
    if size > limit:
        raise ValidationFailed(
            "Inputs are too large",
            [Problem("inputs", "invalid_value", f"inputs are {size} bytes; the limit is {limit}")],
        )
    try:
        return graph.validate_inputs(inputs)
    except InputError as exc:
        raise ValidationFailed(exc.message, exc.problems) from None


def _check_idempotency_key(key: str) -> None:
    if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise ValidationFailed(
            "Idempotency-Key is invalid",
            [Problem("Idempotency-Key", "invalid_value", f"use 1 to {MAX_IDEMPOTENCY_KEY} printable characters")],
        )


def _execution_for_key(user: User, key: str) -> Execution | None:
    row = db.session.get(IdempotencyKey, (user.id, key))
    if row is None:
        return None
    if row.created_at < utcnow() - timedelta(seconds=current_app.config["IDEMPOTENCY_TTL"]):
        db.session.delete(row)  # expired: the key may start a new execution
        db.session.commit()
        return None
    return db.session.get(Execution, row.execution_id)


def _new_execution(graph, copied: dict[str, dict] | None = None, **fields) -> Execution:
    """A queued execution and its node rows, with the job id it will be enqueued under
    chosen now, so one commit records everything."""
    execution_id, lane = new_id("exec"), dispatcher()
    return insert_execution(
        graph, execution_id, queue=lane.lane, job_id=lane.new_job_id(execution_id), copied=copied, **fields
    )


def _dispatch(execution: Execution) -> None:
    dispatcher().submit(execution.id, execution.job_id)


def retries_of(execution_ids: list[str]) -> dict[str, Execution]:
    """Each execution's latest retry, if it was retried (a failed run then links to it)."""
    if not execution_ids:
        return {}
    query = select(Execution).where(Execution.retry_of.in_(execution_ids)).order_by(Execution.created_at)
    return {retry.retry_of: retry for retry in db.session.scalars(query)}


def child_executions(execution: Execution) -> list[Execution]:
    """The child runs of its workflow nodes, oldest first (the same user's, always)."""
    query = select(Execution).where(Execution.parent_execution_id == execution.id).order_by(Execution.created_at)
    return list(db.session.scalars(query))


def wait_for(execution: Execution, timeout: float) -> Execution:
    """Block until the execution finishes or ``timeout`` passes; the fresh row either way."""
    if execution.status in ACTIVE:
        # Give the pooled connection back first: the run itself (local mode) and other
        # requests need it more than a request that only waits.
        db.session.commit()
        with admission.aside():  # and its turn at the app, for the same reason
            dispatcher().wait(execution.id, timeout)
        db.session.expire_all()
    return db.session.get(Execution, execution.id)


# -- cancel and retry ----------------------------------------------------------------------


def cancel_execution(user: User, execution_id: str) -> Execution:
    execution = own_execution(user, execution_id)
    if execution.finished:
        raise Conflict(f"Execution '{execution_id}' already {execution.status}")
    error = {"code": "cancelled", "message": "cancelled on request", "node_id": None}
    if not settle(execution.id, RunStatus.CANCELLED, error, from_statuses=ACTIVE):
        db.session.expire_all()
        raise Conflict(f"Execution '{execution_id}' already {db.session.get(Execution, execution_id).status}")
    audit.record("execution.cancelled", user, "execution", execution.id)
    db.session.commit()
    dispatcher().announce_cancel(execution.id)  # recorded first: the run's waits end now, nothing starts after
    db.session.expire_all()
    return db.session.get(Execution, execution.id)


def retry_execution(user: User, execution_id: str) -> Execution:
    """A new execution of the same workflow version and inputs. Nodes that completed
    in the original are copied, output and all, so they cost no model call; the
    rest run again."""
    original = own_execution(user, execution_id)
    if original.status not in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise Conflict(f"Only failed or cancelled executions can be retried; this one is {original.status}")
    workflow = db.session.get(Workflow, original.workflow_id)
    if workflow is None or workflow.deleted_at is not None:
        raise Conflict("The workflow of this execution has been deleted")
    if not visible_to(workflow, user.id):  # run when public, made private since
        raise Forbidden("The workflow of this execution is no longer shared with you")
    check_budget(user)
    count_execution(user.id)
    graph = graph_for(original.workflow_id, original.workflow_version)
    now = utcnow()
    reused = {
        row.node_id: {
            "status": NodeStatus.COMPLETED,
            "input": row.input,
            "output": row.output,
            "started_at": now,
            "finished_at": now,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
            "reused_from": original.id,
        }
        for row in original.nodes
        if row.status == NodeStatus.COMPLETED
    }
    execution = _new_execution(
        graph,
        reused,
        workflow_id=original.workflow_id,
        workflow_version=original.workflow_version,
        user_id=user.id,
        retry_of=original.id,
        trigger=Trigger.RETRY,
        inputs=original.inputs,
    )
    audit.record("execution.retried", user, "execution", execution.id, details={"retry_of": original.id})
    db.session.commit()
    _dispatch(execution)
    return db.session.get(Execution, execution.id)  # with its node rows, for the answer


# -- reading ----------------------------------------------------------------------------------


def list_executions(
    user: User,
    *,
    workflow_id: str | None = None,
    status: str | None = None,
    since=None,
    until=None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[Execution], int]:
    """The caller's executions, newest first (ids are time-ordered, so they break ties)."""
    scope = [Execution.user_id == user.id]
    if workflow_id is not None:
        scope.append(Execution.workflow_id == workflow_id)
    filters = []
    if status is not None:
        if status not in tuple(RunStatus):
            raise ValidationFailed(
                "Unknown status", [Problem("status", "invalid_value", f"one of {', '.join(RunStatus)}")]
            )
        filters.append(Execution.status == status)
    if since is not None:
        filters.append(Execution.created_at >= since)
    if until is not None:
        filters.append(Execution.created_at < until)
    counted = select(func.count()).select_from(Execution).where(*scope, *filters)
    total = db.session.scalar(counted) if filters else _started(user, workflow_id)
    rows = db.session.scalars(
        select(Execution)
        .where(*scope, *filters)
        .order_by(Execution.created_at.desc(), Execution.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


def _started(user: User, workflow_id: str | None) -> int:
    """Executions the user started (of one workflow, or of all), from the counters."""
    query = select(func.coalesce(func.sum(_counts.c.count), 0)).where(_counts.c.user_id == user.id)
    if workflow_id is not None:
        query = query.where(_counts.c.workflow_id == workflow_id)
    return db.session.scalar(query)


def usage_report(user: User, *, days: int = 30, workflow_id: str | None = None) -> dict:
    """Tokens and cost per day and per workflow, from the executions' totals (each the
    sum of its nodes), for executions started in the last ``days`` days."""
    today = utcnow().date()
    since = today - timedelta(days=days - 1)
    sums = (
        func.count(Execution.id),
        func.coalesce(func.sum(Execution.prompt_tokens), 0),
        func.coalesce(func.sum(Execution.completion_tokens), 0),
        func.coalesce(func.sum(Execution.total_tokens), 0),
        func.coalesce(func.sum(Execution.cost_usd), 0.0),
    )
    # Top-level executions only: a workflow node's child run is in its parent's totals already.
    scope = [Execution.user_id == user.id, Execution.created_at >= since, Execution.parent_execution_id.is_(None)]
    if workflow_id:
        scope.append(Execution.workflow_id == workflow_id)
    day = func.date(Execution.created_at)
    by_day = {
        str(row[0]): _usage_entry(row[1:]) for row in db.session.execute(select(day, *sums).where(*scope).group_by(day))
    }
    by_workflow = db.session.execute(
        select(Execution.workflow_id, Workflow.name, *sums)
        .join(Workflow, Workflow.id == Execution.workflow_id)
        .where(*scope)
        .group_by(Execution.workflow_id, Workflow.name)
        .order_by(func.sum(Execution.cost_usd).desc())
    ).all()
    dates = [(since + timedelta(days=n)).isoformat() for n in range(days)]
    return {
        "days": days,
        "since": since.isoformat(),
        "workflow_id": workflow_id,
        "totals": _usage_entry(db.session.execute(select(*sums).where(*scope)).one()),
        "by_day": [{"date": d, **by_day.get(d, _usage_entry((0, 0, 0, 0, 0.0)))} for d in dates],
        "by_workflow": [{"workflow_id": row[0], "name": row[1], **_usage_entry(row[2:])} for row in by_workflow],
    }


def _usage_entry(row) -> dict:
    executions, prompt, completion, total, cost = row
    return {
        "executions": int(executions),
        "prompt_tokens": int(prompt),
        "completion_tokens": int(completion),
        "total_tokens": int(total),
        "cost_usd": round(float(cost), 10),
    }
