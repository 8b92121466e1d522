"""Starting a run, waiting for it, cancelling and retrying it: the run lifecycle's front door.

Starting is careful about order: the inputs are checked against the input node
before anything is written (a 422 leaves no trace), then the execution and one
row per node are committed, and only then handed to a worker. The API, the UI, the
scheduler and webhooks all start runs here; ``services/`` only reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from .. import admission
from ..engine.errors import ErrorCode, InputError, Problem
from ..engine.status import ACTIVE, NodeStatus, RunStatus, Trigger
from ..errors import Conflict, Forbidden, ValidationFailed
from ..extensions import db
from ..models import Execution, IdempotencyKey, User, Workflow, new_id, utcnow
from ..models.workflow import visible_to
from ..ratelimits import count_execution
from ..services import audit
from ..services.definitions import graph_for, graph_of_run, refuse_oversized
from ..services.executions import own_execution
from ..services.limits import check_budget
from ..services.workflows import runnable_workflow
from .dispatch import dispatcher
from .records import settle
from .rows import insert_execution, reused_node
from .test_runs import Chosen, TestOptions, choose

MAX_IDEMPOTENCY_KEY = 255


def start_execution(
    user: User,
    workflow_id: str,
    inputs: Any,
    *,
    idempotency_key: str | None = None,
    trigger: Trigger = Trigger.API,
    trigger_id: str | None = None,
    also: Callable[[Execution], None] | None = None,
    test: TestOptions | None = None,
) -> Execution:
    """Validate, record and dispatch a run. A repeated ``idempotency_key`` (same user,
    within ``IDEMPOTENCY_TTL``) returns the execution the first request started.
    ``test``: the draft or another version, ``until`` a node, ``pinned`` outputs (a test run)."""
    workflow = runnable_workflow(user, workflow_id)
    if idempotency_key is not None:
        _check_idempotency_key(idempotency_key)
        earlier = _execution_for_key(user, idempotency_key)
        if earlier is not None and earlier.workflow_id != workflow.id:
            raise Conflict("This Idempotency-Key was already used to run another workflow")
        if earlier is not None:
            return earlier
    if test is not None and test.asked:
        chosen = choose(user, workflow, test)
        return start_chosen(
            user, workflow, chosen, inputs, trigger=trigger, trigger_id=trigger_id, key=idempotency_key, also=also
        )
    # The common path: the latest published version, its parsed graph cached.
    return _record(
        user,
        graph_for(workflow.id, workflow.version),
        inputs,
        key=idempotency_key,
        also=also,
        workflow_id=workflow.id,
        workflow_version=workflow.version,
        trigger=trigger,
        trigger_id=trigger_id,
    )


def start_chosen(
    user: User,
    workflow: Workflow,
    chosen: Chosen,
    inputs: Any,
    *,
    trigger: Trigger = Trigger.API,
    trigger_id: str | None = None,
    key: str | None = None,
    also: Callable[[Execution], None] | None = None,
) -> Execution:
    """Start a run of what ``choose`` picked (read once: a test run's cases all run the
    draft as it was when the test run began)."""
    return _record(
        user,
        chosen.graph,
        inputs,
        copied=chosen.pinned_rows,
        key=key,
        also=also,
        workflow_id=workflow.id,
        workflow_version=chosen.version,
        trigger=Trigger.TEST if chosen.test else trigger,
        trigger_id=trigger_id,
        definition=chosen.definition,
        run_until=chosen.until,
    )


def _record(
    user: User,
    graph,
    inputs: Any,
    *,
    copied: dict[str, dict] | None = None,
    key: str | None = None,
    also: Callable[[Execution], None] | None = None,
    **fields,
) -> Execution:
    """Check the inputs, the budget and the rate limit, then write and hand over the run
    (``key``: its Idempotency-Key)."""
    values = _validated_inputs(graph, inputs)
    check_budget(user)
    count_execution(user.id)
    execution = _new_execution(graph, copied, user_id=user.id, inputs=values, **fields)
    audit.record("execution.started", user, "execution", execution.id, details={"workflow_id": fields["workflow_id"]})
    if key is not None:
        db.session.add(IdempotencyKey(user_id=user.id, key=key, execution_id=execution.id))
        try:
            db.session.flush()
        except IntegrityError:  # the same key raced us: the other request's execution wins
            db.session.rollback()
            return _execution_for_key(user, key)
    if also is not None:  # a caller's own write in the same commit (a schedule's claim, a case's link); it may raise
        also(execution)
    db.session.commit()
    _dispatch(execution)
    return execution


def _validated_inputs(graph, inputs: Any) -> dict:
    if inputs is None:
        inputs = {}
    refuse_oversized(inputs, "MAX_INPUT_BYTES", "inputs", "Inputs are too large", "inputs are")
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
    error = {"code": ErrorCode.CANCELLED, "message": "cancelled on request", "node_id": None}
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
    graph = graph_of_run(original.workflow_id, original.workflow_version, original.definition)
    now = utcnow()
    reused = {
        row.node_id: reused_node(row, original.id, now) for row in original.nodes if row.status == NodeStatus.COMPLETED
    }
    execution = _new_execution(
        graph,
        reused,
        workflow_id=original.workflow_id,
        workflow_version=original.workflow_version,
        definition=original.definition,  # a test run's retry runs the same draft, as far
        run_until=original.run_until,
        user_id=user.id,
        retry_of=original.id,
        trigger=Trigger.RETRY,
        inputs=original.inputs,
    )
    audit.record("execution.retried", user, "execution", execution.id, details={"retry_of": original.id})
    db.session.commit()
    _dispatch(execution)
    return db.session.get(Execution, execution.id)  # with its node rows, for the answer
