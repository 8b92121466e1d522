"""The template gallery: browse by category, search, preview, and clone."""

from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user

from ..errors import ValidationFailed
from ..schemas.workflows import CATEGORY_MAX, NAME_MAX, FromTemplateRequest
from ..services import templates as service
from ..services.definitions import compile_definition
from . import bp
from .forms import CloneForm
from .graph import render_graph
from .rendering import page_arg, paginate, redirect_to, respond

PER_PAGE = 24


@bp.get("/templates")
def templates():
    search = request.args.get("q", "").strip()[:NAME_MAX]
    category = request.args.get("category", "").strip()[:CATEGORY_MAX]
    pagination = page_arg(PER_PAGE)
    items, total = service.list_templates(
        category=category or None, search=search or None, limit=PER_PAGE, offset=pagination.offset
    )
    return respond(
        "gallery/index.html",
        "partials/_template_cards.html",
        items=items,
        pagination=paginate(pagination, total),
        search=search,
        category=category,
        categories=service.template_categories(),
        form=CloneForm(),
        node_counts={t.id: len(t.definition.get("nodes") or []) for t in items},
    )


@bp.get("/templates/<template_id>")
def template(template_id: str):
    item = service.get_template(template_id)
    return respond(
        "gallery/detail.html",
        item=item,
        graph=render_graph(item.definition, label=f"Graph of the template {item.name}"),
        inputs=_input_fields(item.definition),
        form=CloneForm(),
    )


@bp.post("/templates/<template_id>/clone")
def clone_template(template_id: str):
    form = CloneForm()
    if not form.validate_on_submit():
        raise ValidationFailed("; ".join(e for errors in form.errors.values() for e in errors))
    body = FromTemplateRequest(template_id=template_id, name=(form.name.data or "").strip() or None)
    workflow = service.workflow_from_template(current_user._get_current_object(), body)
    flash(f"“{workflow.name}” is yours now. Adjust it here, then run it.", "success")
    return redirect_to(url_for("ui.workflow", workflow_id=workflow.id))


def _input_fields(definition: dict) -> list:
    try:
        graph = compile_definition(definition)
    except ValidationFailed:
        return []
    node = graph.input_node
    return list(node.fields) if node is not None else []
