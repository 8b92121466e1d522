"""The editor's Save, Publish and Test: each keeps the posted settings and draft first
(the draft whatever its problems), then publishes it as the next version, or runs it as
a test run and draws each node's input and output beside its form (and pins or unpins a
node's last test output for the next test runs)."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

from flask import current_app, flash, request, url_for
from flask_login import current_user

from ..engine.errors import Problem
from ..engine.status import ACTIVE
from ..errors import Conflict, NotFound, NothingToPublish, TestsFailed, ValidationFailed
from ..runs import start
from ..runs.test_runs import DRAFT, TestOptions
from ..schemas.drafts import NOTE_MAX
from ..services import drafts as draft_service
from ..services import pins as pin_service
from ..services import workflows as service
from ..services.definitions import compile_definition, oversize
from ..services.executions import own_execution
from ..services.versions import draft_of, normalised
from . import bp
from .editor import (
    draw_editor,
    editor_context,
    keep_draft,
    owned_from_path,
    posted_draft,
    posted_history,
    problems_of,
    selected_index,
)
from .editor_schema import node_ids
from .forms import WorkflowMetaForm
from .rendering import is_fragment_request, redirect_to
from .run_form import read_inputs


@bp.post("/workflows/<workflow_id>/definition")
def editor_save(workflow_id: str):
    """Save (and Ctrl+S): the settings and the draft, whatever its problems (they are
    listed); nothing that runs changes until Publish."""
    workflow = owned_from_path()
    kept = _kept_from_form(workflow)
    if kept.refused:
        return kept.refused
    if kept.problems:
        count = len(kept.problems)
        message = f"Draft saved, with {count} problem{'' if count == 1 else 's'} to fix before publishing."
    else:
        message = "Draft saved." if kept.changed else "No changes to save."
    return _after_keeping(kept, message)


@bp.post("/workflows/<workflow_id>/editor/publish")
def editor_publish(workflow_id: str):
    """Publish: the draft as the editor holds it (kept first) becomes the next version,
    with the note typed beside the button; a draft with problems is not published."""
    workflow = owned_from_path()
    kept = _kept_from_form(workflow)
    if kept.refused:
        return kept.refused
    note = request.form.get("publish_note", "").strip()[:NOTE_MAX]
    try:
        workflow = draft_service.publish(current_user._get_current_object(), workflow.id, note or None)
    except ValidationFailed as exc:
        return _editor_again(kept, exc.details, "Not published: fix the problems below.")
    except NothingToPublish:
        return _after_keeping(kept, f"Nothing to publish: the draft is version {workflow.version} as published.")
    except TestsFailed as exc:  # the publish gate: its words are beside the button too
        return _editor_again(kept, kept.problems, f"Not published. {exc.message}.")
    kept.workflow = workflow
    return _after_keeping(kept, f"Published version {workflow.version}.", trigger="workflow-saved")


class _Kept(SimpleNamespace):
    """What keeping the posted editor form did: the workflow after it, its draft's
    problems, whether anything changed, the view and the answer if it was refused."""


def _kept_from_form(workflow) -> _Kept:
    """Keep the posted settings and draft. Refused (with the editor redrawn as typed):
    settings that fail their form, JSON that cannot be read, a draft past the bounds."""
    posted, view = posted_draft()
    history, _ = posted_history()
    meta = WorkflowMetaForm() if request.form.get("_meta") else None
    kept = _Kept(
        workflow=workflow,
        posted=posted,
        view=view,
        history=history,
        meta=meta,
        json_text=request.form.get("definition_json") if view == "json" else None,
        problems=problems_of(posted.definition, posted.problems),
        changed=False,
        refused=None,
    )
    if meta is not None and not meta.validate():
        kept.refused = _editor_again(kept, kept.problems, "Not saved: fix the settings above.")
        return kept
    too_large = oversize(posted.definition) if posted.definition else None
    if not posted.definition or too_large is not None:  # nothing that could be drawn again
        kept.refused = _editor_again(kept, kept.problems, "Not saved: fix the problems below.")
        return kept
    user = current_user._get_current_object()
    before = _saved_state(workflow)
    keep_draft(workflow, posted.definition)
    if meta is not None:
        workflow = kept.workflow = service.update_workflow(user, workflow.id, meta.fields_for_service())
    kept.changed = before != _saved_state(workflow)
    return kept


def _saved_state(workflow) -> tuple:
    draft = normalised(draft_of(workflow).definition)
    return draft, workflow.name, workflow.description, workflow.category, workflow.public


def _editor_again(kept: _Kept, problems, message: str):
    """The editor as it was posted, with ``message`` and the problems: 422."""
    context = editor_context(
        kept.workflow,
        kept.posted.definition,
        view=kept.view,
        json_text=kept.json_text,
        problems=problems,
        message=message,
        selected=selected_index(),
        history=kept.history,
    )
    meta_parts = {"meta_form": kept.meta, "meta_oob": True} if kept.meta is not None else {}
    return draw_editor(kept.workflow, {**context, **meta_parts}, status=422)


def _after_keeping(kept: _Kept, message: str, trigger=None, test_values: dict | None = None):
    workflow = kept.workflow
    if not is_fragment_request():
        flash(message, "success")
        return redirect_to(url_for("ui.workflow", workflow_id=workflow.id))
    context = editor_context(
        workflow,
        kept.posted.definition,
        view=kept.view,
        problems=kept.problems,
        message=message,
        selected=selected_index(),
        history=kept.history,
        test_values=test_values,
    )
    meta_parts = {"meta_form": kept.meta, "meta_oob": True} if kept.meta is not None else {}
    return draw_editor(workflow, {**context, **meta_parts}, trigger=trigger)


@bp.post("/workflows/<workflow_id>/editor/test")
def editor_test(workflow_id: str):
    """The Test panel's Run (and Run up to the open node): the draft, kept first, runs as a
    test run with the panel's inputs and the draft's pins; the editor comes back with each
    node's input and output beside its form. Works as a plain form post too."""
    workflow = owned_from_path()
    kept = _kept_from_form(workflow)
    if kept.refused:
        return kept.refused
    if kept.problems:
        return _editor_again(kept, kept.problems, "Not run: a draft runs only without problems; fix them below.")
    graph = compile_definition(kept.posted.definition)
    inputs, raw, problems = read_inputs(graph, request.form)
    until = request.form.get("test_until") or None
    user = current_user._get_current_object()
    if not problems:
        options = TestOptions(DRAFT, until, _pins_taken(user, workflow, graph, until))
        try:
            execution = start.start_execution(user, workflow.id, inputs, test=options)
        except ValidationFailed as exc:  # inputs the input node refuses, a pin that no longer fits its node
            problems = exc.details or [Problem("inputs", "invalid_value", exc.message)]
    if problems:
        return _test_refused(kept, raw, problems)
    # With htmx, a run still going after a moment answers as it is: the panel then follows
    # its events (static/live.js) and asks for the editor again when it ends.
    waited = FOLLOW_AFTER_SECONDS if is_fragment_request() else current_app.config["SYNC_TIMEOUT"]
    execution = start.wait_for(execution, waited)
    return _after_keeping(kept, test_message(execution), test_values=raw)


FOLLOW_AFTER_SECONDS = 1.0  # a quick run answers with its results; a longer one is followed live


def test_message(execution) -> str:
    scope = f" up to {execution.run_until}" if execution.run_until else ""
    going = "still running" if execution.status in ACTIVE else execution.status
    return f"Test run{scope}: {going}."


def _pins_taken(user, workflow, graph, until: str | None) -> dict[str, dict]:
    """The draft's pins a run takes: of nodes still in the draft (the rest are dropped), and
    of those only what runs when it runs ``until`` a node (the others stay skipped)."""
    pins = pin_service.pins_for_run(user, workflow.id, graph.nodes)
    if until in graph.nodes:
        scope = graph.upstream_of(until)
        pins = {node_id: output for node_id, output in pins.items() if node_id in scope}
    return pins


@bp.post("/workflows/<workflow_id>/editor/test/<execution_id>")
def editor_test_ended(workflow_id: str, execution_id: str):
    """The editor once a test run the panel followed live has ended (static/live.js asks on
    its ``execution_finished``): drawn as the Run's own answer is for a quick run."""
    workflow = owned_from_path()
    execution = own_execution(current_user._get_current_object(), execution_id)
    if execution.workflow_id != workflow.id:
        raise NotFound(f"No execution '{execution_id}' of this workflow")
    kept = _kept_from_form(workflow)
    if kept.refused:
        return kept.refused
    return _after_keeping(kept, test_message(execution))


@bp.post("/workflows/<workflow_id>/editor/test/<execution_id>/cancel")
def editor_test_cancel(workflow_id: str, execution_id: str):
    """Cancel in the Test panel: the run is cancelled and the editor drawn with how it ended
    at once (its events would say so only once the node in flight gives up)."""
    workflow = owned_from_path()
    user = current_user._get_current_object()
    execution = own_execution(user, execution_id)
    if execution.workflow_id != workflow.id:
        raise NotFound(f"No execution '{execution_id}' of this workflow")
    kept = _kept_from_form(workflow)
    if kept.refused:
        return kept.refused
    with contextlib.suppress(Conflict):  # it ended meanwhile: drawn as it ended
        execution = start.cancel_execution(user, execution.id)
    return _after_keeping(kept, test_message(execution))


@bp.post("/workflows/<workflow_id>/editor/pins")
def editor_pins(workflow_id: str):
    """*Pin this output* (``pin_node``) and *Unpin* (``unpin_node``) beside the open node's
    last test output, and Unpin in the Test panel. The editor's form is kept first, as with
    every button of it; pins are the draft's, so the owner's only."""
    workflow = owned_from_path()
    kept = _kept_from_form(workflow)
    if kept.refused:
        return kept.refused
    user = current_user._get_current_object()
    unpinning = "unpin_node" in request.form
    node_id = request.form.get("unpin_node" if unpinning else "pin_node", "")
    if unpinning:
        if not pin_service.unpin(user, workflow.id, node_id):
            return _editor_again(kept, kept.problems, f"Not unpinned: '{node_id[:64]}' has no pinned output.")
        return _after_keeping(kept, f"Unpinned {node_id}: test runs run it again.")
    if node_id not in node_ids(kept.posted.definition):
        return _editor_again(kept, kept.problems, f"Not pinned: the draft has no node '{node_id[:64]}'.")
    try:
        pin_service.pin(user, workflow.id, node_id)
    except ValidationFailed as exc:
        return _editor_again(kept, kept.problems, f"Not pinned: {exc.details[0].message if exc.details else exc}.")
    message = f"Pinned the output of {node_id}: test runs of the draft take it, {node_id} does not run."
    return _after_keeping(kept, message)


def _test_refused(kept: _Kept, raw: dict, problems: list[Problem]):
    """Inputs the draft's input node refuses: the editor with them listed (422)."""
    listed = "; ".join(f"{p.path}: {p.message}" for p in problems[:5])
    context = editor_context(
        kept.workflow,
        kept.posted.definition,
        view=kept.view,
        problems=kept.problems,
        message=f"Not run: {listed}",
        selected=selected_index(),
        history=kept.history,
        test_values=raw,
    )
    context["test_problems"] = problems
    return draw_editor(kept.workflow, context, status=422)
