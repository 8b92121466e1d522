"""/api/v1/workflows/{id}/draft, /publish and /versions: the owner's draft, publishing
it as the next version, and the versions published so far (owner only: 404 for anyone else)."""

from __future__ import annotations

from flask import g

from ..schemas import drafts as schema
from ..schemas import workflows as workflow_schema
from ..services import drafts as service
from . import bp
from .contract import operation
from .params import paginated
from .refusals import DEFINITION
from .serializers import draft, version_detail, version_summary, workflow_full

DRAFT = (schema.Draft, "The draft, with every problem it has (none: it can be published and run).")


def _own(workflow_id: str, **_: object) -> None:
    service.own_workflow(g.user, workflow_id)


def _answer(workflow, row):
    return draft(row, service.is_changed(workflow, row), service.draft_problems(row))


@bp.get("/workflows/<wf:workflow_id>/draft")
@operation("getDraft", "Get the draft (owner only)", tag="workflows", errors=(404,), answers={200: DRAFT})
def get_draft(workflow_id: str):
    return _answer(*service.read_draft(g.user, workflow_id))


@bp.put("/workflows/<wf:workflow_id>/draft")
@operation(
    "saveDraft",
    "Save the draft, whatever its problems (owner only)",
    tag="workflows",
    errors=(404,),
    before=_own,
    body=schema.DraftBody,
    invalid_body=400,
    example=workflow_schema.EXAMPLE_DEFINITION,
    description="Kept as sent and listed with its problems, never refused for them; changes nothing that runs. "
    "A draft past MAX_NODES, MAX_CONNECTIONS or MAX_DEFINITION_BYTES is refused with 413.",
    answers={200: DRAFT},
)
def save_draft(workflow_id: str, body: schema.DraftBody):
    definition = {"nodes": list(body.nodes), "connections": list(body.connections)}
    return _answer(*service.save_draft(g.user, workflow_id, definition))


@bp.post("/workflows/<wf:workflow_id>/publish")
@operation(
    "publishDraft",
    "Publish the draft as the next version (owner only)",
    tag="workflows",
    errors=(404, 409),
    before=_own,
    body=schema.PublishRequest,
    body_required=False,
    example={"note": "Shorter prompt"},
    refusals=DEFINITION,
    description="409 `nothing_to_publish`: the draft is the latest published version.",
    answers={200: (workflow_schema.Workflow, "The workflow, its version one more.")},
)
def publish(workflow_id: str, body: schema.PublishRequest):
    return workflow_full(service.publish(g.user, workflow_id, body.note))


@bp.get("/workflows/<wf:workflow_id>/versions")
@operation(
    "listVersions",
    "List the published versions (owner only)",
    tag="workflows",
    errors=(404,),
    before=_own,
    query=schema.VersionListQuery,
    answers={200: (schema.VersionList, "Newest first.")},
)
def list_versions(workflow_id: str, query: schema.VersionListQuery):
    rows, total = service.list_versions(g.user, workflow_id, limit=query.limit, offset=query.offset)
    return paginated("versions", [version_summary(r) for r in rows], total, query.offset)


@bp.get("/workflows/<wf:workflow_id>/versions/<int:number>")
@operation(
    "getVersion",
    "Get one published version (owner only)",
    tag="workflows",
    errors=(404,),
    answers={200: (schema.VersionDetail, "The version's definition and who published it, when, with what note.")},
)
def get_version(workflow_id: str, number: int):
    return version_detail(service.get_version(g.user, workflow_id, number))
