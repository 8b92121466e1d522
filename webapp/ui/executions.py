"""Running a workflow from its run form, and watching an execution live.

The execution page polls its live fragment every second while the execution is
queued or running; the fragment of a finished execution comes back without the
polling trigger, so the polling stops by itself. With JavaScript, the page also follows
the execution's events (``static/live.js``, over ``execution_events``) and shows a model
node's text as it arrives, between polls.
"""

from __future__ import annotations

from types import SimpleNamespace

from flask import current_app, flash, request, url_for
from flask_login import current_user

from ..api import streams
from ..engine.status import NodeStatus, Trigger
from ..errors import ValidationFailed
from ..evaluations.records import test_run_of
from ..runs import start
from ..services import executions as service
from ..services import summaries
from ..services.definitions import graph_for
from ..services.templates import example_inputs_for
from ..services.workflows import visible_workflow
from . import bp
from .formatting import format_duration
from .graph import render_graph
from .rendering import is_fragment_request, redirect_to, respond
from .run_form import read_inputs, run_fields

POLL_SECONDS = 1


def _user():
    return current_user._get_current_object()


# -- the run form ----------------------------------------------------------------------------------


@bp.get("/workflows/<workflow_id>/run")
def workflow_run(workflow_id: str):
    """The run form starts from an earlier run's inputs (``?from=<execution id>``, one's
    own: "Run again"), else from the template's examples the workflow was made from."""
    workflow = visible_workflow(_user(), workflow_id)
    earlier = request.args.get("from")
    start_from = service.own_execution(_user(), earlier).inputs if earlier else example_inputs_for(workflow)
    return _run_page(workflow, start_from=start_from)


def _run_page(
    workflow,
    *,
    values: dict | None = None,
    start_from: dict | None = None,
    problems=None,
    status: int = 200,
    result=None,
    trigger=None,
):
    graph = graph_for(workflow.id, workflow.version)
    placed: dict[str, list[str]] = {}
    loose = []
    fields = run_fields(graph, values, start_from)
    slots = {f"inputs.{f.name}": f.slot for f in fields}
    for problem in problems or []:
        if problem.path in slots:
            placed.setdefault(slots[problem.path], []).append(problem.message)
        else:
            loose.append(problem)
    runs, run_total = service.list_executions(_user(), workflow_id=workflow.id, limit=8)
    return respond(
        "executions/run.html",
        "partials/_run_form.html",
        status=status,
        trigger=trigger,
        workflow=workflow,
        fields=fields,
        placed=placed,
        loose=loose,
        runs=runs,
        run_total=run_total,
        result=result,
        **(_result_context(result) if result is not None else {}),
    )


@bp.post("/workflows/<workflow_id>/run")
def workflow_start(workflow_id: str):
    user = _user()
    workflow = visible_workflow(user, workflow_id)
    graph = graph_for(workflow.id, workflow.version)
    inputs, raw, problems = read_inputs(graph, request.form)
    if problems:
        return _run_page(workflow, values=raw, problems=problems, status=422)
    try:
        execution = start.start_execution(user, workflow.id, inputs, trigger=Trigger.UI)
    except ValidationFailed as exc:
        return _run_page(workflow, values=raw, problems=exc.details or [], status=422)
    if request.form.get("mode") != "wait" or not is_fragment_request():
        if request.form.get("mode") == "wait":
            start.wait_for(execution, current_app.config["SYNC_TIMEOUT"])
        return redirect_to(url_for("ui.execution", execution_id=execution.id))
    execution = start.wait_for(execution, current_app.config["SYNC_TIMEOUT"])
    return _run_page(workflow, values=raw, result=execution, trigger="runs-changed")


@bp.get("/workflows/<workflow_id>/runs/recent")
def workflow_recent_runs(workflow_id: str):
    """The run page's recent runs alone, for its refresh after a run."""
    workflow = visible_workflow(_user(), workflow_id)
    runs, run_total = service.list_executions(_user(), workflow_id=workflow.id, limit=8)
    return respond("partials/_recent_runs.html", workflow=workflow, runs=runs, run_total=run_total)


# -- one execution ---------------------------------------------------------------------------------


TOTALS = ("prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "cost_saved_usd")


def _result_context(execution) -> dict:
    definition = summaries.executed_definition(execution)
    formats = {}
    for node in definition.get("nodes") or []:
        config = node.get("config") or {}
        if node.get("type") == "output" and config.get("template") is not None:
            formats[node["id"]] = config.get("format", "text")
    statuses = {row.node_id: row.status for row in execution.nodes}
    # The execution's totals are written when it ends; while it runs, its nodes' tell more.
    counted = (
        execution
        if execution.finished
        else SimpleNamespace(**{name: sum(getattr(row, name) or 0 for row in execution.nodes) for name in TOTALS})
    )
    details = {row.node_id: _node_detail(row) for row in execution.nodes}
    return {
        "execution": execution,
        "output_formats": formats,
        "run_graph": render_graph(  # drawn as the editor draws it: top to bottom, branches labelled
            definition,
            statuses=statuses,
            details=details,
            link_prefix="run-",
            label="Execution graph, coloured by node status",
        ),
        "node_rows": in_run_order(execution.nodes),
        "node_names": {n.get("id"): n.get("name") for n in definition.get("nodes") or [] if isinstance(n, dict)},
        "children": service.child_executions(execution),
        "retried_as": service.retries_of([execution.id]).get(execution.id),
        "totals": counted,
        "title_tag": is_fragment_request(),  # a polled fragment carries the tab's title (htmx sets it)
        "poll_seconds": POLL_SECONDS,
    }


def in_run_order(rows) -> list:
    """The nodes as they ran: by start, those that never started last (in definition order)."""
    ordered = sorted(enumerate(rows), key=lambda pair: (pair[1].started_at is None, pair[1].started_at or 0, pair[0]))
    return [row for _, row in ordered]


def _node_detail(row) -> str:
    if row.status == NodeStatus.COMPLETED:
        extra = " · cached" if row.cached else (" · reused" if row.reused_from else "")
        return f"{format_duration(row.duration_ms)}{extra}"
    return row.status


def _execution_context(execution) -> dict:
    names = summaries.workflow_names(_user(), {execution.workflow_id})
    name, available = names.get(execution.workflow_id, (execution.workflow_id, False))
    owned = available and visible_workflow(_user(), execution.workflow_id).owner_id == _user().id
    return {
        "workflow_name": name,
        "workflow_available": available,
        "workflow_owned": owned,  # its inputs can be tried on the draft: "Debug in the editor"
        "test_run_id": test_run_of(execution.id) if execution.trigger == Trigger.TEST else None,
        **_result_context(execution),
    }


@bp.get("/executions/<execution_id>")
def execution(execution_id: str):
    item = service.own_execution(_user(), execution_id)
    return respond("executions/detail.html", "partials/_execution_live.html", **_execution_context(item))


@bp.get("/executions/<execution_id>/live")
def execution_live(execution_id: str):
    """The live part of the page; polled while the execution is still going."""
    item = service.own_execution(_user(), execution_id)
    return respond("executions/detail.html", "partials/_execution_live.html", **_execution_context(item))


@bp.get("/executions/<execution_id>/events")
def execution_events(execution_id: str):
    """The execution's events for the page (signed in by its session), as the API sends them."""
    after = streams.last_event_id()
    service.own_execution(_user(), execution_id)
    return streams.event_stream(execution_id, after)


@bp.post("/executions/<execution_id>/cancel")
def execution_cancel(execution_id: str):
    item = start.cancel_execution(_user(), execution_id)
    if not is_fragment_request():
        flash("Cancelled.", "info")
        return redirect_to(url_for("ui.execution", execution_id=item.id))
    return respond("partials/_execution_live.html", **_execution_context(item))


@bp.post("/executions/<execution_id>/retry")
def execution_retry(execution_id: str):
    item = start.retry_execution(_user(), execution_id)
    flash("Retrying: nodes that completed before are reused, the rest run again.", "info")
    return redirect_to(url_for("ui.execution", execution_id=item.id))
