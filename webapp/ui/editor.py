"""The workflow editor: forms per node, connections, a JSON tab, live validation.

Three requests do all the work, each carrying the whole editor form:
``editor_change`` applies a structural edit (add or remove a node, a row, a
connection; switch tabs) and redraws the editor; ``editor_check`` validates what
is typed, with the same validator as the API, and answers with the problems (each
swapped next to its field), the redrawn graph and the references each template may
use, leaving the fields being typed in alone; ``editor_save`` saves, which makes a
new version when the definition changed.
"""

from __future__ import annotations

from flask import current_app, flash, request, url_for
from flask_login import current_user

from ..engine.errors import Problem
from ..errors import ValidationFailed
from ..llm import DEFAULT_PRICES
from ..services import workflows as service
from ..services.definitions import compile_definition
from ..services.providers import list_providers
from . import bp, editor_schema, node_forms
from . import draft as drafts
from .forms import WorkflowMetaForm
from .graph import render_graph
from .rendering import is_fragment_request, redirect_to, respond


def problems_of(definition: dict, form_problems: list[Problem] | None = None) -> list[Problem]:
    """Everything wrong with a draft: what the form could not read, then the validator's list."""
    problems = list(form_problems or [])
    if not definition:
        return problems
    try:
        compile_definition(definition)
    except ValidationFailed as exc:
        problems += exc.details or [Problem("nodes", "invalid_value", exc.message)]
    return problems


def model_choices() -> list[str]:
    configured = current_app.config.get("MODEL_PRICES") or {}
    default = current_app.config.get("DEFAULT_MODEL")
    return sorted({*DEFAULT_PRICES, *configured, *([default] if default else [])})


def _suggestions(workflow) -> dict:
    """What the editor's fields offer to pick from (free text stays allowed): models (the
    server's and the user's providers'), the user's providers, and the workflows a
    workflow node may run (theirs and public ones, not this one)."""
    user = current_user._get_current_object() if current_user.is_authenticated else None
    mine = list_providers(user) if user else []
    found, _ = service.list_workflows(user, limit=100, include_public=True) if user else ([], 0)
    return {
        "models": sorted({*model_choices(), *(model for p in mine for model in p.models)}),
        "provider_names": [p.name for p in mine],
        "workflow_choices": [w for w in found if w.id != workflow.id],
    }


def editor_context(
    workflow,
    definition: dict,
    *,
    problems: list[Problem] | None = None,
    view: str = "form",
    json_text: str | None = None,
    readonly: bool = False,
    message: str | None = None,
    focus_node: int | None = None,
    suggestions: bool = True,
) -> dict:
    """What the editor templates need to draw ``definition`` (a draft, maybe invalid)."""
    if problems is None:
        problems = problems_of(definition)
    forms = node_forms.node_forms(definition) if definition else []
    if focus_node is not None and 0 <= focus_node < len(forms):
        forms[focus_node].focused = True
    placed, loose = node_forms.place_problems(problems, forms, definition or {})
    if view == "json":  # no fields to put them next to: list every problem with its path
        placed, loose = (
            {k: v for k, v in placed.items() if k == "pb-definition_json"},
            [p for p in problems if p.path != "definition_json"],
        )
    return {
        "workflow": workflow,
        "definition": definition,
        "node_forms": forms,
        "connections": node_forms.connection_rows(definition or {}),
        "node_ids": editor_schema.node_ids(definition or {}),
        "problems": problems,
        "placed": placed,
        "loose": loose,
        "graph": render_graph(
            definition, link_prefix="node-" if view == "form" else None, label=f"Graph of {workflow.name}"
        ),
        "view": view,
        "json_text": json_text if json_text is not None else drafts.as_json(definition or {}),
        "readonly": readonly,
        "dirty": bool(definition) and _normalised(definition) != _normalised(workflow.definition),
        **(_suggestions(workflow) if suggestions else {}),  # the check's answer draws no datalists
        "default_model": current_app.config.get("DEFAULT_MODEL"),
        "node_types": editor_schema.node_type_names(),
        "branch_choices": editor_schema.BRANCH_CHOICES,
        "editor_message": message,
    }


def _normalised(definition: dict) -> dict:
    return {"nodes": definition.get("nodes"), "connections": definition.get("connections") or []}


def _posted_draft() -> tuple[drafts.Draft, str]:
    """The draft the editor form holds, from the form view or the JSON tab."""
    view = request.form.get("_view", "form")
    if view == "json":
        return drafts.read_json(request.form.get("definition_json", "")), "json"
    return drafts.read_form(request.form), "form"


def _owned():
    return service.owned_workflow(current_user._get_current_object(), request.view_args["workflow_id"])


def _editor(workflow, context: dict, *, status: int = 200, trigger=None):
    """The editor fragment for htmx; the whole workflow page otherwise."""
    if is_fragment_request():
        return respond("partials/_editor.html", status=status, trigger=trigger, **context)
    from .workflows import workflow_page

    context.pop("meta_oob", None)  # the whole page draws the settings in place
    return workflow_page(workflow, status=status, **context)


@bp.post("/workflows/<workflow_id>/editor")
def editor_change(workflow_id: str):
    workflow = _owned()
    posted, view = _posted_draft()
    action = request.form.get("action", "")
    if view == "json":
        if posted.problems:  # unreadable JSON: stay on the tab, keep the text as typed
            return _editor(
                workflow,
                editor_context(
                    workflow,
                    {},
                    problems=posted.problems,
                    view="json",
                    json_text=request.form.get("definition_json", ""),
                ),
                status=422,
            )
        definition = posted.definition
    else:
        definition = drafts.apply_action(posted.definition, action, request.form) if action else posted.definition
    if action in ("view:json", "view:form"):
        view = action.partition(":")[2]
    added = len(definition.get("nodes") or []) - 1 if action == "add_node" else None  # the keyboard goes there
    context = editor_context(
        workflow, definition, view=view, problems=problems_of(definition, posted.problems), focus_node=added
    )
    return _editor(workflow, context)


@bp.post("/workflows/<workflow_id>/editor/check")
def editor_check(workflow_id: str):
    workflow = _owned()
    posted, view = _posted_draft()
    definition = posted.definition
    context = editor_context(
        workflow,
        definition,
        view=view,
        problems=problems_of(definition, posted.problems),
        json_text=request.form.get("definition_json") if view == "json" else None,
        suggestions=False,
    )
    if view == "json":  # only the JSON field is on the page
        slots = ["pb-definition_json"]
    else:
        slots = [slot for form in context["node_forms"] for slot in form.slots()]
        slots += [*node_forms.connection_slots(definition or {}), "pb-nodes"]
    return respond("partials/_editor_feedback.html", slots=slots, **context)


@bp.post("/workflows/<workflow_id>/definition")
def editor_save(workflow_id: str):
    """The one Save: the graph and, from the same form, the name, description, category
    and visibility (one version more only when the graph changed)."""
    workflow = _owned()
    posted, view = _posted_draft()
    meta = WorkflowMetaForm() if request.form.get("_meta") else None
    json_text = request.form.get("definition_json") if view == "json" else None
    problems, message = (problems_of(posted.definition, posted.problems), None) if posted.problems else (None, None)
    settings_refused = meta is not None and not meta.validate()
    if settings_refused:
        message = "Not saved: fix the settings above."
    before = (workflow.version, workflow.name, workflow.description, workflow.category, workflow.public)
    if not problems and not settings_refused:
        fields = dict(posted.definition) | (meta.fields_for_service() if meta else {})
        try:
            workflow = service.update_workflow(current_user._get_current_object(), workflow.id, fields)
        except ValidationFailed as exc:
            problems, message = exc.details, "Not saved: fix the problems below."
    meta_parts = {"meta_form": meta, "meta_oob": True} if meta is not None else {}
    if problems or settings_refused:
        context = editor_context(
            workflow, posted.definition, view=view, json_text=json_text, problems=problems, message=message
        )
        return _editor(workflow, {**context, **meta_parts}, status=422)
    after = (workflow.version, workflow.name, workflow.description, workflow.category, workflow.public)
    if workflow.version != before[0]:
        message = f"Saved as version {workflow.version}."
    else:
        message = "Saved." if after != before else "No changes to save."
    if not is_fragment_request():
        flash(message, "success")
        return redirect_to(url_for("ui.workflow", workflow_id=workflow.id))
    context = editor_context(workflow, workflow.definition, view=view, message=message)
    return _editor(workflow, {**context, **meta_parts}, trigger="workflow-saved")
