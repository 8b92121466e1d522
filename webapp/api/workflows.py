"""/api/v1/workflows: list, read, create, change, delete, rate, clone, export, import."""

from __future__ import annotations

import re

from flask import Response, g, jsonify

from ..schemas import workflows as schema
from ..services import workflows as service
from . import bp
from .contract import Answer, operation
from .params import paginated
from .refusals import DEFINITION
from .serializers import workflow_full, workflow_summary

FULL = (schema.Workflow, "The full workflow.")
CREATED = (schema.Workflow, "The new workflow, owned by the caller.")


def _visible(workflow_id: str) -> None:
    service.visible_workflow(g.user, workflow_id)


def _owned(workflow_id: str) -> None:
    service.owned_workflow(g.user, workflow_id)


@bp.get("/workflows")
@operation(
    "listWorkflows",
    "List workflows",
    tag="workflows",
    query=schema.WorkflowListQuery,
    answers={
        200: (schema.WorkflowList, "Own workflows (and with public=true others' public ones), newest updated_at first.")
    },
)
def list_workflows(query: schema.WorkflowListQuery):
    items, total = service.list_workflows(
        g.user, limit=query.limit, offset=query.offset, category=query.category, include_public=query.public
    )
    return paginated("workflows", [workflow_summary(w) for w in items], total, query.offset)


@bp.post("/workflows")
@operation(
    "createWorkflow",
    "Create a workflow",
    tag="workflows",
    body=schema.WorkflowCreate,
    example={"name": "Product copy", "description": "Marketing copy for a product", "category": "marketing"}
    | schema.EXAMPLE_DEFINITION,
    refusals=DEFINITION,
    answers={201: CREATED},
)
def create_workflow(body: schema.WorkflowCreate):
    return workflow_full(service.create_workflow(g.user, body.fields())), 201


@bp.get("/workflows/<wf:workflow_id>")
@operation("getWorkflow", "Get a workflow", tag="workflows", errors=(404,), answers={200: FULL})
def get_workflow(workflow_id: str):
    return workflow_full(service.visible_workflow(g.user, workflow_id))


_CHANGE = {
    "tag": "workflows",
    "errors": (403, 404),
    "before": _owned,
    "body": schema.WorkflowUpdate,
    "example": {"name": "Renamed"},
    "refusals": DEFINITION,
    "answers": {200: FULL},
}


@bp.put("/workflows/<wf:workflow_id>")
@operation("replaceWorkflow", "Change a workflow (same as PATCH)", **_CHANGE)
def replace_workflow(workflow_id: str, body: schema.WorkflowUpdate):
    return workflow_full(service.update_workflow(g.user, workflow_id, body.fields()))


@bp.patch("/workflows/<wf:workflow_id>")
@operation("updateWorkflow", "Change a workflow", **_CHANGE)
def update_workflow(workflow_id: str, body: schema.WorkflowUpdate):
    return workflow_full(service.update_workflow(g.user, workflow_id, body.fields()))


@bp.delete("/workflows/<wf:workflow_id>")
@operation(
    "deleteWorkflow",
    "Delete a workflow",
    tag="workflows",
    errors=(403, 404),
    answers={204: Answer(None, "Deleted; its executions stay readable.")},
)
def delete_workflow(workflow_id: str):
    service.delete_workflow(g.user, workflow_id)
    return Response(status=204)


@bp.post("/workflows/<wf:workflow_id>/rating")
@operation(
    "rateWorkflow",
    "Rate a workflow (re-rating replaces)",
    tag="workflows",
    errors=(404,),
    before=_visible,
    body=schema.RatingRequest,
    example={"rating": 5},
    answers={200: (schema.Workflow, "The workflow with its new mean rating.")},
)
def rate_workflow(workflow_id: str, body: schema.RatingRequest):
    return workflow_full(service.rate_workflow(g.user, workflow_id, body.rating))


@bp.post("/workflows/<wf:workflow_id>/clone")
@operation(
    "cloneWorkflow",
    "Clone an own or public workflow",
    tag="workflows",
    errors=(404,),
    before=_visible,
    body=schema.CloneRequest,
    body_required=False,
    answers={201: (schema.Workflow, "A private copy owned by the caller.")},
)
def clone_workflow(workflow_id: str, body: schema.CloneRequest):
    return workflow_full(service.clone_workflow(g.user, workflow_id, name=body.name)), 201


@bp.get("/workflows/<wf:workflow_id>/export")
@operation(
    "exportWorkflow",
    "Export a workflow's definition",
    tag="workflows",
    errors=(404,),
    answers={
        200: Answer(
            schema.ExportDocument,
            "A file-ready document; POST it to /api/v1/workflows/import.",
            {"Content-Disposition": {"description": "attachment; filename=…", "schema": {"type": "string"}}},
        )
    },
)
def export_workflow(workflow_id: str):
    document = service.export_document(g.user, workflow_id)
    response = jsonify(document)
    filename = re.sub(r"[^A-Za-z0-9_-]+", "-", document["workflow"]["name"]).strip("-").lower() or "workflow"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.workflow.json"'
    return response


@bp.post("/workflows/import")
@operation(
    "importWorkflow",
    "Import an exported workflow",
    tag="workflows",
    body=schema.ImportRequest,
    example={"format": schema.EXPORT_FORMAT, "format_version": schema.EXPORT_VERSION}
    | {"workflow": {"name": "Imported", **schema.EXAMPLE_DEFINITION}},
    refusals=DEFINITION,
    description="An export document, or (leniently) a create body. The new workflow is always private.",
    answers={201: (schema.Workflow, "A new private workflow.")},
)
def import_workflow(body):
    return workflow_full(service.import_document(g.user, body)), 201
