"""/api/v1/templates, and making a workflow from one."""

from __future__ import annotations

from flask import g

from ..schemas import catalogue as schema
from ..schemas.workflows import FromTemplateRequest, Workflow
from ..services import templates as service
from . import bp
from .contract import operation
from .params import paginated
from .serializers import template as serialize
from .serializers import workflow_full


@bp.get("/templates")
@operation(
    "listTemplates",
    "List templates",
    tag="templates",
    query=schema.TemplateListQuery,
    answers={200: (schema.TemplateList, "Templates by category and name.")},
)
def list_templates(query: schema.TemplateListQuery):
    items, total = service.list_templates(category=query.category, limit=query.limit, offset=query.offset)
    return paginated("templates", [serialize(t) for t in items], total, query.offset)


@bp.get("/templates/<template_id>")
@operation(
    "getTemplate",
    "Get a template with its definition",
    tag="templates",
    errors=(404,),
    answers={200: (schema.Template, "The template.")},
)
def get_template(template_id: str):
    return serialize(service.get_template(template_id))


@bp.post("/workflows/from-template")
@operation(
    "createWorkflowFromTemplate",
    "Make a workflow from a template",
    tag="templates",
    errors=(404,),
    body=FromTemplateRequest,
    answers={201: (Workflow, "A new workflow, owned by the caller.")},
)
def workflow_from_template(body: FromTemplateRequest):
    return workflow_full(service.workflow_from_template(g.user, body)), 201
