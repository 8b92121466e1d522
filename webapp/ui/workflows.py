"""My workflows: the list, creating, importing, duplicating, publishing, deleting,
exporting and rating; and one workflow's page (its editor lives in ``editor.py``)."""

from __future__ import annotations

import json

from flask import Response, current_app, flash, make_response, request, url_for
from flask_login import current_user

from ..engine import jsontext
from ..errors import ValidationFailed
from ..schemas.base import parse
from ..schemas.workflows import CATEGORY_MAX, NAME_MAX, ImportRequest, RatingRequest
from ..services import drafts, executions, summaries
from ..services import workflows as service
from ..services.versions import draft_of
from . import bp
from .editor import editor_context
from .editor_panels import changes_text
from .forms import ImportForm, NewWorkflowForm, PlainForm, WorkflowMetaForm
from .graph import render_graph
from .rendering import add_trigger, is_fragment_request, page_arg, paginate, redirect_to, respond, vary_on_htmx
from .triggers import triggers_context

PER_PAGE = 15
LIST_CHANGED = "workflows-changed"


def _user():
    return current_user._get_current_object()


def starter_definition(model: str) -> dict:
    """What a new workflow starts as: ask for a text, send it to a model, return the answer."""
    return {
        "nodes": [
            {
                "id": "in",
                "type": "input",
                "config": {
                    "fields": [
                        {"name": "text", "type": "string", "required": True, "description": "What to send to the model"}
                    ]
                },
            },
            {"id": "answer", "type": "ai_model", "config": {"model": model, "prompt": "{{ in.text }}"}},
            {"id": "out", "type": "output", "config": {"fields": {"answer": "{{ answer.text }}"}}},
        ],
        "connections": [{"from": "in", "to": "answer"}, {"from": "answer", "to": "out"}],
    }


@bp.get("/workflows")
def workflows():
    user = _user()
    search = request.args.get("q", "").strip()[:NAME_MAX]
    category = request.args.get("category", "").strip()[:CATEGORY_MAX]
    scope = "all" if request.args.get("scope") == "all" else "mine"
    pagination = page_arg(PER_PAGE)
    items, total = service.list_workflows(
        user,
        limit=PER_PAGE,
        offset=pagination.offset,
        category=category or None,
        include_public=scope == "all",
        search=search or None,
    )
    return respond(
        "workflows/index.html",
        "partials/_workflow_list.html",
        items=items,
        pagination=paginate(pagination, total),
        search=search,
        category=category,
        scope=scope,
        categories=service.categories(user),
        last_runs=summaries.last_runs(user, [w.id for w in items]),
        action_form=PlainForm(),
    )


@bp.route("/workflows/new", methods=["GET", "POST"])
def workflow_new():
    form, import_form = NewWorkflowForm(prefix="new"), ImportForm(prefix="import")
    status = 200
    if form.validate_on_submit():
        fields = {
            "name": form.name.data.strip(),
            "description": form.description.data or "",
            "category": (form.category.data or "").strip() or "general",
            **starter_definition(current_app.config.get("DEFAULT_MODEL") or "gpt-4o-mini"),
        }
        workflow = service.create_workflow(_user(), fields)
        flash("Your workflow is ready: an input, a model call and an output. Make it yours.", "success")
        return redirect_to(url_for("ui.workflow", workflow_id=workflow.id))
    if request.method == "POST":
        status = 422
    return respond("workflows/new.html", status=status, form=form, import_form=import_form)


@bp.post("/workflows/import")
def workflow_import():
    form, import_form = NewWorkflowForm(prefix="new"), ImportForm(prefix="import")
    if import_form.validate_on_submit():
        try:
            document = jsontext.loads(import_form.document.data)
            if not isinstance(document, dict):
                raise ValueError("the document must be a JSON object")
            workflow = service.import_document(_user(), parse(ImportRequest, document, "Import document is invalid"))
        except ValueError as exc:
            import_form.document.errors.append(f"This is not valid JSON: {exc}")
        except ValidationFailed as exc:
            import_form.document.errors.extend(
                f"{p.path}: {p.message}" if p.path else p.message for p in exc.details or []
            )
            if not exc.details:
                import_form.document.errors.append(exc.message)
        else:
            flash(f"Imported “{workflow.name}”.", "success")
            return redirect_to(url_for("ui.workflow", workflow_id=workflow.id))
    return respond("workflows/new.html", status=422, form=form, import_form=import_form, show_import=True)


@bp.get("/workflows/<workflow_id>")
def workflow(workflow_id: str):
    """``?test_from=<execution id>`` (one's own run of one's own workflow: "Debug in the
    editor") fills the Test panel with that run's inputs."""
    item = service.visible_workflow(_user(), workflow_id)
    earlier = request.args.get("test_from")
    if earlier and item.owner_id == _user().id:
        inputs = executions.own_execution(_user(), earlier).inputs
        return workflow_page(item, **editor_context(item, draft_of(item).definition, test_start=inputs))
    return workflow_page(item)


def workflow_page(item, *, status: int = 200, meta_form: WorkflowMetaForm | None = None, **editor) -> Response:
    """The whole workflow page: header, settings, editor and recent runs."""
    user = _user()
    owner = item.owner_id == user.id
    runs, run_total = executions.list_executions(user, workflow_id=item.id, limit=5)
    if meta_form is None and owner:
        meta_form = WorkflowMetaForm(obj=item, formdata=None)
    # The owner edits the draft (kept whatever its problems); anyone else reads what runs.
    shown = draft_of(item).definition if owner else item.definition
    context = {**(editor or editor_context(item, shown, readonly=not owner)), "workflow": item}
    if owner:
        context |= triggers_context(item)
    return respond(
        "workflows/detail.html",
        status=status,
        owner=owner,
        runs=runs,
        run_total=run_total,
        action_form=PlainForm(),
        meta_form=meta_form,
        **context,
    )


@bp.post("/workflows/<workflow_id>/clone")
def workflow_clone(workflow_id: str):
    copy = service.clone_workflow(_user(), workflow_id)
    flash(f"Made “{copy.name}”, your own copy.", "success")
    return redirect_to(url_for("ui.workflow", workflow_id=copy.id))


@bp.post("/workflows/<workflow_id>/publish")
def workflow_publish(workflow_id: str):
    public = request.form.get("public") == "true"
    item = service.update_workflow(_user(), workflow_id, {"public": public})
    message = f"“{item.name}” is {'public' if item.public else 'private'} now."
    return _after_list_action(item.id, message)


@bp.post("/workflows/<workflow_id>/delete")
def workflow_delete(workflow_id: str):
    item = service.owned_workflow(_user(), workflow_id)
    service.delete_workflow(_user(), item.id)
    flash(f"Deleted “{item.name}”. Its past executions stay in your history.", "info")
    if request.form.get("from") == "list" and is_fragment_request():
        return _list_changed()
    return redirect_to(url_for("ui.workflows"))


def _after_list_action(workflow_id: str, message: str) -> Response:
    flash(message, "success")
    if request.form.get("from") == "list" and is_fragment_request():
        return _list_changed()
    return redirect_to(url_for("ui.workflow", workflow_id=workflow_id))


def _list_changed() -> Response:
    """The list refreshes itself: it listens for this event (and shows the flash message)."""
    return add_trigger(vary_on_htmx(make_response("", 204)), LIST_CHANGED)


@bp.get("/workflows/<workflow_id>/export")
def workflow_export(workflow_id: str):
    document = service.export_document(_user(), workflow_id)
    body = json.dumps(document, indent=2, ensure_ascii=False)
    slug = "".join(c if c.isalnum() else "-" for c in document["workflow"]["name"].lower()).strip("-")[:60]
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{slug or "workflow"}.json"'},
    )


@bp.post("/workflows/<workflow_id>/rating")
def workflow_rate(workflow_id: str):
    raw = request.form.get("rating", "")
    value = parse(RatingRequest, {"rating": int(raw) if raw.isdigit() else raw}, "Rating is invalid").rating
    item = service.rate_workflow(_user(), workflow_id, value)
    if not is_fragment_request():
        flash(f"Rated {value} of 5.", "success")
        return redirect_to(url_for("ui.workflow", workflow_id=item.id))
    return respond("partials/_rating.html", workflow=item, rated=value)


@bp.get("/workflows/<workflow_id>/versions/<int:number>")
def workflow_version(workflow_id: str, number: int):
    """One published version as it runs: its graph, its definition, and a way back into the draft."""
    user = _user()
    version = drafts.get_version(user, workflow_id, number)
    item = service.visible_workflow(user, workflow_id)
    changes = changes_text(drafts.differences(version.definition, draft_of(item).definition))
    return respond(
        "workflows/version.html",
        workflow=item,
        version=version,
        changes=changes,
        graph=render_graph(version.definition, label=f"Graph of {item.name}, version {number}"),
        definition_json=json.dumps(version.definition, indent=2, ensure_ascii=False),
        action_form=PlainForm(),
    )


@bp.post("/workflows/<workflow_id>/versions/<int:number>/restore")
def workflow_version_restore(workflow_id: str, number: int):
    drafts.restore_version(_user(), workflow_id, number)
    flash(f"Version {number} is in the draft now: Publish makes it live.", "success")
    return redirect_to(url_for("ui.workflow", workflow_id=workflow_id))
