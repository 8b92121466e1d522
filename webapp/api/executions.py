"""/api/v1 executions: run a workflow, read, list, cancel and retry its executions."""

from __future__ import annotations

from flask import current_app, g, request, url_for

from ..runs import start
from ..runs.test_runs import TestOptions
from ..schemas import executions as schema
from ..schemas.events import ExecutionEvent
from ..services import executions as service
from ..services.workflows import runnable_workflow, visible_workflow
from . import bp, streams
from .contract import Answer, Refusal, operation
from .params import paginated
from .refusals import DEFINITION, INPUTS
from .serializers import execution as serialize

LOCATION = {"Location": {"description": "The execution's status_url.", "schema": {"type": "string", "format": "uri"}}}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A repeated key (same user, within a day) answers with the first execution "
    "instead of starting another.",
    "schema": {"type": "string", "minLength": 1, "maxLength": start.MAX_IDEMPOTENCY_KEY, "pattern": r"\S"},
}


def _accepted(execution) -> tuple[dict, int, dict]:
    status_url = url_for("api.get_execution", execution_id=execution.id, _external=True)
    body = {"execution_id": execution.id, "status": execution.status, "status_url": status_url}
    return body, 202, {"Location": status_url}


def _runnable(workflow_id: str) -> None:
    runnable_workflow(g.user, workflow_id)  # an unknown workflow is a 404 before its body is a 422


@bp.post("/workflows/<wf:workflow_id>/execute")
@operation(
    "executeWorkflow",
    "Run a workflow",
    tag="executions",
    errors=(404, 409),
    before=_runnable,
    headers=(IDEMPOTENCY_KEY,),
    body=schema.ExecuteRequest,
    body_required=False,
    example={"inputs": {"product": "a solar lamp"}, "async": False},
    refusals=(
        *INPUTS,
        Refusal("invalid_value", "the Idempotency-Key holds a character that is not printable"),
        Refusal("invalid_value", "a pinned output is past MAX_NODE_OUTPUT_BYTES"),
        Refusal("unknown_node", "until or pinned names a node the version run does not hold"),
        *(Refusal(r.code, f"version 'draft': the draft has a problem: {r.rule}") for r in DEFINITION),
    ),
    description="Sync runs answer 200 with the finished execution, or 202 (as async does) when still "
    "running after SYNC_TIMEOUT. Inputs that fail the input node: 422, nothing runs. "
    "A repeated Idempotency-Key returns the first execution (409 if it ran another workflow). "
    "version 'draft' (owner only; 404 for anyone else), an older version, until or pinned make a test run "
    "(trigger 'test'; not counted in usage_count). An unknown version: 404. "
    "Over the monthly budget: 429 with code budget_exceeded. "
    '"stream": true answers 200 at once with the execution\'s events, as GET /executions/{id}/events does.',
    answers={
        200: Answer(
            schema.Execution,
            "Sync: the finished execution. With stream: the execution's events (text/event-stream).",
            events=ExecutionEvent,
        ),
        202: (schema.ExecutionAccepted, "Running in the background; follow status_url.", LOCATION),
    },
)
def execute_workflow(workflow_id: str, body: schema.ExecuteRequest):
    def started():
        return start.start_execution(
            g.user,
            workflow_id,
            body.inputs,
            idempotency_key=request.headers.get("Idempotency-Key"),
            test=TestOptions(body.version, body.until, dict(body.pinned or {})),
        )

    if body.stream:
        with streams.slot() as taken:  # a full server says so before it starts a run
            return streams.event_stream(started().id, slot=taken)
    execution = started()
    if body.async_:
        return _accepted(execution)
    execution = start.wait_for(execution, current_app.config["SYNC_TIMEOUT"])
    if not execution.finished:
        return _accepted(execution)
    return serialize(execution)


@bp.get("/executions/<execution_id>")
@operation(
    "getExecution",
    "Get an execution, node by node",
    tag="executions",
    errors=(404,),
    answers={200: (schema.Execution, "The execution.")},
)
def get_execution(execution_id: str):
    return serialize(service.own_execution(g.user, execution_id))


def _visible(workflow_id: str) -> None:
    visible_workflow(g.user, workflow_id)


@bp.get("/executions/<execution_id>/events")
@operation(
    "streamExecutionEvents",
    "Follow an execution's events as they happen",
    tag="executions",
    errors=(400, 404),
    headers=(streams.LAST_EVENT_ID,),
    description="Server-Sent Events until the execution settles: execution_started, node_started, "
    "text_chunk (the next piece of a model's answer), text_reset (a retry starts the node's text over), "
    "node_finished, execution_finished (the execution without nodes; the stream ends). A late joiner "
    "first gets what already happened; Last-Event-ID resumes after that event. Every stream slot of "
    "the server taken: 503 with Retry-After.",
    answers={200: Answer(None, "The events (text/event-stream).", events=ExecutionEvent)},
)
def stream_execution_events(execution_id: str):
    after = streams.last_event_id()
    service.own_execution(g.user, execution_id)
    return streams.event_stream(execution_id, after)


@bp.get("/workflows/<wf:workflow_id>/executions")
@operation(
    "listWorkflowExecutions",
    "List a workflow's executions",
    tag="executions",
    errors=(404,),
    before=_visible,
    query=schema.ExecutionListQuery,
    answers={200: (schema.ExecutionList, "The caller's executions of the workflow, newest first, without nodes.")},
)
def list_workflow_executions(workflow_id: str, query: schema.ExecutionListQuery):
    items, total = service.list_executions(
        g.user, workflow_id=workflow_id, status=query.status, limit=query.limit, offset=query.offset
    )
    return paginated("executions", [serialize(e, with_nodes=False) for e in items], total, query.offset)


@bp.post("/executions/<execution_id>/cancel")
@operation(
    "cancelExecution",
    "Cancel a queued or running execution",
    tag="executions",
    errors=(404, 409),
    description="A finished execution: 409.",
    answers={202: (schema.Execution, "The cancelled execution.")},
)
def cancel_execution(execution_id: str):
    return serialize(start.cancel_execution(g.user, execution_id)), 202


@bp.post("/executions/<execution_id>/retry")
@operation(
    "retryExecution",
    "Retry a failed or cancelled execution",
    tag="executions",
    errors=(403, 404, 409),
    description="A queued, running or completed execution: 409.",
    answers={
        202: Answer(
            schema.RetryAccepted,
            "A new execution (retry_of names the original) that reuses the outputs of the nodes that completed.",
            LOCATION,
        )
    },
)
def retry_execution(execution_id: str):
    execution = start.retry_execution(g.user, execution_id)
    body, status, headers = _accepted(execution)
    return {**serialize(execution), **body}, status, headers
