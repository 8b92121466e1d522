"""/api/v1/workflows: list, read, create, change, delete, rate, clone, export, import."""

from __future__ import annotations

import re

from flask import Response, g, jsonify, request

from ..services import workflows as service
from . import bp
from .params import bool_arg, json_body, page, paginated
from .serializers import workflow_full, workflow_summary


@bp.get("/workflows")
def list_workflows():
    limit, offset = page()
    items, total = service.list_workflows(
        g.user,
        limit=limit,
        offset=offset,
        category=request.args.get("category") or None,
        include_public=bool_arg("public"),
    )
    return paginated("workflows", [workflow_summary(w) for w in items], total, offset)


@bp.post("/workflows")
def create_workflow():
    fields = service.read_fields(json_body(), creating=True)
    return workflow_full(service.create_workflow(g.user, fields)), 201


@bp.get("/workflows/<workflow_id>")
def get_workflow(workflow_id: str):
    return workflow_full(service.visible_workflow(g.user, workflow_id))


@bp.route("/workflows/<workflow_id>", methods=["PUT", "PATCH"])
def update_workflow(workflow_id: str):
    service.owned_workflow(g.user, workflow_id)  # 404/403 before reading the body
    fields = service.read_fields(json_body(), creating=False)
    return workflow_full(service.update_workflow(g.user, workflow_id, fields))


@bp.delete("/workflows/<workflow_id>")
def delete_workflow(workflow_id: str):
    service.delete_workflow(g.user, workflow_id)
    return Response(status=204)


@bp.post("/workflows/<workflow_id>/rating")
def rate_workflow(workflow_id: str):
    service.visible_workflow(g.user, workflow_id)
    body = json_body()
    return workflow_full(service.rate_workflow(g.user, workflow_id, body.get("rating")))


@bp.post("/workflows/<workflow_id>/clone")
def clone_workflow(workflow_id: str):
    service.visible_workflow(g.user, workflow_id)
    body = json_body(optional=True)
    name = service.read_fields({"name": body["name"]}, creating=False)["name"] if "name" in body else None
    return workflow_full(service.clone_workflow(g.user, workflow_id, name=name)), 201


@bp.get("/workflows/<workflow_id>/export")
def export_workflow(workflow_id: str):
    document = service.export_document(g.user, workflow_id)
    response = jsonify(document)
    filename = re.sub(r"[^A-Za-z0-9_-]+", "-", document["workflow"]["name"]).strip("-").lower() or "workflow"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.workflow.json"'
    return response


@bp.post("/workflows/import")
def import_workflow():
    return workflow_full(service.import_document(g.user, json_body())), 201
