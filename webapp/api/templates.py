"""/api/v1/templates, and making a workflow from one."""

from __future__ import annotations

from flask import g, request

from ..services import templates as service
from . import bp
from .params import json_body, page, paginated
from .serializers import template as serialize
from .serializers import workflow_full


@bp.get("/templates")
def list_templates():
    limit, offset = page()
    items, total = service.list_templates(category=request.args.get("category") or None, limit=limit, offset=offset)
    return paginated("templates", [serialize(t) for t in items], total, offset)


@bp.get("/templates/<template_id>")
def get_template(template_id: str):
    return serialize(service.get_template(template_id))


@bp.post("/workflows/from-template")
def workflow_from_template():
    return workflow_full(service.workflow_from_template(g.user, json_body())), 201
