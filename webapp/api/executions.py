"""/api/v1 executions: run a workflow, read, list, cancel and retry its executions."""

from __future__ import annotations

from flask import current_app, g, request, url_for

from ..engine.errors import Problem
from ..engine.status import RunStatus
from ..errors import ValidationFailed
from ..services import executions as service
from ..services.workflows import runnable_workflow, visible_workflow
from . import bp
from .params import choice_arg, json_body, page, paginated
from .serializers import execution as serialize

_EXECUTE_FIELDS = {"inputs", "async"}


def _accepted(execution) -> tuple[dict, int, dict]:
    status_url = url_for("api.get_execution", execution_id=execution.id, _external=True)
    body = {"execution_id": execution.id, "status": execution.status, "status_url": status_url}
    return body, 202, {"Location": status_url}


@bp.post("/workflows/<workflow_id>/execute")
def execute_workflow(workflow_id: str):
    body = json_body(optional=True)
    problems = [Problem(key, "unknown_field", f"unknown field '{key}'") for key in body if key not in _EXECUTE_FIELDS]
    run_async = body.get("async", False)
    if not isinstance(run_async, bool):
        problems.append(Problem("async", "invalid_value", "'async' must be true or false"))
    if problems:
        runnable_workflow(g.user, workflow_id)  # an unknown workflow is a 404 before its body is a 422
        raise ValidationFailed("Request body is invalid", problems)
    execution = service.start_execution(
        g.user, workflow_id, body.get("inputs"), idempotency_key=request.headers.get("Idempotency-Key")
    )
    if run_async:
        return _accepted(execution)
    execution = service.wait_for(execution, current_app.config["SYNC_TIMEOUT"])
    if not execution.finished:
        return _accepted(execution)
    return serialize(execution)


@bp.get("/executions/<execution_id>")
def get_execution(execution_id: str):
    return serialize(service.own_execution(g.user, execution_id))


@bp.get("/workflows/<workflow_id>/executions")
def list_workflow_executions(workflow_id: str):
    visible_workflow(g.user, workflow_id)
    limit, offset = page()
    items, total = service.list_executions(
        g.user, workflow_id=workflow_id, status=choice_arg("status", tuple(RunStatus)), limit=limit, offset=offset
    )
    return paginated("executions", [serialize(e, with_nodes=False) for e in items], total, offset)


@bp.post("/executions/<execution_id>/cancel")
def cancel_execution(execution_id: str):
    return serialize(service.cancel_execution(g.user, execution_id)), 202


@bp.post("/executions/<execution_id>/retry")
def retry_execution(execution_id: str):
    execution = service.retry_execution(g.user, execution_id)
    body, status, headers = _accepted(execution)
    return {**serialize(execution), **body}, status, headers
