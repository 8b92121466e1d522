"""The workflow editor: the graph to move around in, one node's form at a time in a
side panel, connections, a JSON tab, live validation, undo.

Three requests do all the work, each carrying the whole editor form (every node's
fields, shown or not, the open node's index and the undo history): ``editor_change``
applies a structural edit (add, insert or remove a node, a row, a connection; undo;
revert to saved; switch tabs) and redraws the editor; ``editor_check`` validates what
is typed, with the same validator as the API, and answers with the problems (each
swapped next to its field), the redrawn graph and the references each template may
use, leaving the fields being typed in alone. Both keep the draft they were sent
(whatever its problems: nothing typed is lost, and nothing that runs changes). Saving,
publishing and test runs are ``editor_saving.py``'s; the Versions list and the Test
panel drawn around the graph, ``editor_panels.py``'s.
"""

from __future__ import annotations

import copy

from flask import current_app, request
from flask_login import current_user

from ..engine.errors import Problem
from ..llm import DEFAULT_PRICES
from ..schemas.drafts import NOTE_MAX
from ..services import drafts as draft_service
from ..services import workflows as service
from ..services.definitions import oversize, problems_in
from ..services.pins import pins_of
from ..services.providers import list_providers
from ..services.versions import draft_of, normalised
from . import bp, editor_schema, node_forms, undo
from . import draft as drafts
from .editor_panels import gate_state, test_panel, versions_shown
from .forms import WorkflowMetaForm
from .graph import render_graph
from .pickers import Pickers, Readable, fill_inputs
from .rendering import is_fragment_request, respond


def problems_of(definition: dict, form_problems: list[Problem] | None = None) -> list[Problem]:
    """Everything wrong with a draft: what the form could not read, then the validator's list."""
    problems = list(form_problems or [])
    return problems + problems_in(definition) if definition else problems


def model_choices() -> list[str]:
    configured = current_app.config.get("MODEL_PRICES") or {}
    default = current_app.config.get("DEFAULT_MODEL")
    return sorted({*DEFAULT_PRICES, *configured, *([default] if default else [])})


def pickers_for(workflow) -> Pickers:
    """What the editor's pickers offer the signed-in user: models (the server's, and each
    of their providers'), their providers, and the workflows a node may run or an agent
    take as a tool (theirs and public ones, not this one)."""
    user = current_user._get_current_object() if current_user.is_authenticated else None
    mine = list_providers(user) if user else []
    found, _ = service.list_workflows(user, limit=100, include_public=True) if user else ([], 0)
    readable = {w.id: Readable(w) for w in found if w.id != workflow.id}
    return Pickers(model_choices(), {p.name: tuple(p.models) for p in mine}, readable)


def _suggestions(pickers: Pickers) -> dict:
    """The lists free-text fields offer (a model a provider does not list)."""
    return {
        "models": sorted({*pickers.models, *(model for listed in pickers.providers.values() for model in listed)}),
        "tool_choices": pickers.workflows,
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
    selected: int | None = None,
    focus_node: bool = False,
    history: list[dict] | None = None,
    suggestions: bool = True,
    test_values: dict | None = None,
    test_start: dict | None = None,
) -> dict:
    """What the editor templates need to draw ``definition`` (a draft, maybe invalid):
    ``selected`` is the node open in the panel (``focus_node``: its id takes the focus).
    A draft past the size bounds is never drawn, whichever field it came in: it stays
    text in the JSON tab, with the bound it is past beside it."""
    draft = draft_of(workflow) if not readonly else None
    kept = draft.definition if draft is not None else workflow.definition
    dirty = bool(definition) and normalised(definition) != normalised(kept)  # typed, not kept yet
    unpublished = normalised(kept) != normalised(workflow.definition)
    too_large = oversize(definition) if definition else None
    if too_large is not None:
        problems = [Problem("definition_json", too_large.code, f"Too large to draw or save: {too_large.message}.")]
        json_text = json_text if json_text is not None else drafts.as_json(definition)
        view, definition, selected = "json", {}, None
    if problems is None:
        problems = problems_of(definition)
    pickers = pickers_for(workflow) if suggestions else None
    if pickers is not None and definition and not readonly:
        definition = fill_inputs(copy.deepcopy(definition), pickers)
    forms = node_forms.node_forms(definition, pickers) if definition and view == "form" else []
    if selected is not None and 0 <= selected < len(forms):
        forms[selected].selected = True
        forms[selected].focused = focus_node
    else:
        selected = None
    slots = node_forms.problem_slots(forms, definition or {})
    placed, loose = node_forms.place_problems(problems, forms, definition or {}, slots)
    # Each problem in the summary links to its field (app.js opens the node it is in).
    located = [(p, node_forms.slot_of(p.path, slots) if view == "form" else None) for p in problems]
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
        # Folded away unless there is none yet or one has a problem.
        "connections_open": not (definition or {}).get("connections")
        or any(s.startswith("pb-connections") for s in placed),
        "node_ids": editor_schema.node_ids(definition or {}),
        "problems": problems,
        "located": located,
        "placed": placed,
        "loose": loose,
        "graph": render_graph(
            definition,
            link_prefix="node-" if view == "form" else None,
            label=f"Graph of {workflow.name}",
            insert_points=view == "form" and not readonly,
            selected=forms[selected].id if selected is not None else None,
            pinned=set(pins_of(draft)) if draft is not None else set(),
        ),
        "selected": selected,
        "history": undo.write(history or []),
        "can_undo": bool(history),
        "view": view,
        "json_text": json_text if json_text is not None else drafts.as_json(definition or {}),
        "readonly": readonly,
        "dirty": dirty,
        "unpublished": unpublished,
        "note_max": NOTE_MAX,
        "differs_from_published": bool(definition) and normalised(definition) != normalised(workflow.definition),
        "versions": versions_shown(workflow, kept) if suggestions and not readonly else [],
        "gate_state": gate_state(workflow) if suggestions and not readonly else None,
        **(
            test_panel(workflow, definition, test_values, test_start)
            if suggestions and not readonly and view == "form"
            else {}
        ),
        **(_suggestions(pickers) if pickers else {}),  # the check's answer draws no fields
        "default_model": current_app.config.get("DEFAULT_MODEL"),
        "node_types": editor_schema.node_type_names(),
        "branch_choices": editor_schema.BRANCH_CHOICES,
        "editor_message": message,
    }


def keep_draft(workflow, definition: dict) -> None:
    """The draft as the editor holds it, kept whatever its problems (not past the bounds:
    no page could draw it again)."""
    if definition and oversize(definition) is None:
        draft_service.save_draft(current_user._get_current_object(), workflow.id, definition)


def posted_draft() -> tuple[drafts.Draft, str]:
    """The draft the editor form holds, from the form view or the JSON tab."""
    view = request.form.get("_view", "form")
    if view == "json":
        return drafts.read_json(request.form.get("definition_json", "")), "json"
    return drafts.read_form(request.form), "form"


def owned_from_path():
    return service.owned_workflow(current_user._get_current_object(), request.view_args["workflow_id"])


def draw_editor(workflow, context: dict, *, status: int = 200, trigger=None):
    """The editor fragment for htmx; the whole workflow page otherwise."""
    if is_fragment_request():
        return respond("partials/_editor.html", status=status, trigger=trigger, **context)
    from .workflows import workflow_page

    context.pop("meta_oob", None)  # the whole page draws the settings in place
    return workflow_page(workflow, status=status, **context)


def selected_index() -> int | None:
    text = request.form.get("_selected", "")
    return int(text) if text.isdecimal() and len(text) <= 4 else None


def _selected_after(action: str, selected: int | None, before: dict, after: dict) -> int | None:
    """The node open in the panel once ``action`` is done: a new node opens; the open
    one follows a move; removing it closes the panel; after undo or revert, the node
    of the same id stays open if there is one."""
    before_ids, after_ids = _ids(before), _ids(after)
    count = len(after_ids)
    verb, _, args = drafts.parse_action(action)
    if verb in drafts.ADDING and count > len(before_ids):
        return count - 1
    if verb in ("undo", "revert"):
        was = before_ids[selected] if selected is not None and selected < len(before_ids) else None
        return after_ids.index(was) if was is not None and was in after_ids else None
    if selected is None or not args:
        return selected if selected is not None and selected < count else None
    if verb == "remove_node":
        return None if args[0] == selected else selected - (args[0] < selected)
    if verb == "move_node" and len(args) == 2:
        target = args[0] + (1 if args[1] else -1)
        return {args[0]: target, target: args[0]}.get(selected, selected)
    return selected if selected < count else None


def _ids(definition: dict) -> list:
    return [n.get("id") if isinstance(n, dict) else None for n in definition.get("nodes") or []]


def posted_history() -> tuple[list[dict], str | None]:
    """The undo history the form carries, and why it was dropped if it was: it comes back
    from the browser, so each draft in it is held to the size bounds before any is used."""
    steps = undo.read(request.form.get("_undo"))
    for step in steps:
        for draft in (step["before"], step["after"]):
            too_large = oversize(draft)
            if too_large is not None:
                return [], f"Undo history dropped: it holds a draft past the bounds ({too_large.message})."
    return steps, None


@bp.post("/workflows/<workflow_id>/editor")
def editor_change(workflow_id: str):
    workflow = owned_from_path()
    posted, view = posted_draft()
    action = request.form.get("action", "")
    history, message = posted_history()
    if view == "json" and posted.problems:  # unreadable JSON: stay on the tab, keep the text as typed
        return draw_editor(
            workflow,
            editor_context(
                workflow,
                {},
                problems=posted.problems,
                view="json",
                json_text=request.form.get("definition_json", ""),
                history=history,
                message=message,
            ),
            status=422,
        )
    definition, meta_parts, typed = posted.definition, {}, None
    if oversize(posted.definition) is not None:  # only ever text: no edit applies to it (editor_context says why)
        action, typed = "", request.form.get("definition_json") if view == "json" else None
    elif action == "undo" and history:
        definition = undo.undone(history.pop(), posted.definition)
    elif action == "revert":  # the graph as published and the settings as saved; undo brings the draft back
        history = undo.pushed(history, posted.definition, workflow.definition)
        definition = copy.deepcopy(workflow.definition)
        meta_parts = {"meta_form": WorkflowMetaForm(obj=workflow, formdata=None), "meta_oob": True}
    elif action.startswith("restore:") and action[8:].isdecimal() and len(action) < 20:  # a version into the draft
        version = draft_service.get_version(current_user._get_current_object(), workflow.id, int(action[8:]))
        definition = normalised(copy.deepcopy(version.definition))
        history = undo.pushed(history, posted.definition, definition)
        message = f"Version {version.version} is in the draft now: Publish makes it live (Undo takes it back)."
    elif view == "form" and action and not action.startswith("view:"):
        changed = drafts.apply_action(posted.definition, action, request.form)
        too_large = oversize(changed)
        if too_large is None:
            definition, history = changed, undo.pushed(history, posted.definition, changed)
        else:  # one node or connection too many: the edit is refused, the draft stays as it was
            message, action = f"Not done: {too_large.message}.", ""
    if action in ("view:json", "view:form"):
        view = action.partition(":")[2]
    keep_draft(workflow, definition)
    context = editor_context(
        workflow,
        definition,
        view=view,
        json_text=typed,
        problems=problems_of(definition, None if action in ("undo", "revert") else posted.problems),
        selected=_selected_after(action, selected_index(), posted.definition, definition),
        focus_node=drafts.parse_action(action)[0] in drafts.ADDING,
        history=history,
        message=message,
    )
    focus_pick = action.startswith("remove_node:")  # the keyboard goes to the list of nodes, not to the page's top
    restored = action.startswith("restore:")  # its message says what happened; nothing was refused
    refused = (message is not None and not restored) or context["view"] != view or typed is not None
    return draw_editor(workflow, {**context, **meta_parts, "focus_pick": focus_pick}, status=422 if refused else 200)


@bp.post("/workflows/<workflow_id>/editor/check")
def editor_check(workflow_id: str):
    workflow = owned_from_path()
    posted, view = posted_draft()
    definition = posted.definition
    keep_draft(workflow, definition)  # what is typed is kept as it is typed (and when the page is left)
    context = editor_context(
        workflow,
        definition,
        view=view,
        problems=None if oversize(definition) else problems_of(definition, posted.problems),
        json_text=request.form.get("definition_json") if view == "json" else None,
        selected=selected_index(),
        suggestions=False,
    )
    if context["view"] == "json":  # only the JSON field is on the page (or all a draft too large to draw gets)
        slots = ["pb-definition_json"]
    else:
        slots = [slot for form in context["node_forms"] for slot in form.slots()]
        slots += [*node_forms.connection_slots(definition or {}), "pb-nodes"]
    return respond("partials/_editor_feedback.html", slots=slots, **context)
