"""The rows behind drafts and versions, written in the caller's transaction: what
creating, changing (``workflows``) and publishing (``drafts``) a workflow share."""

from __future__ import annotations

from ..extensions import db
from ..models import User, Workflow, WorkflowDraft, WorkflowVersion, utcnow


def normalised(definition: dict) -> dict:
    return {"nodes": definition.get("nodes"), "connections": definition.get("connections") or []}


def draft_of(workflow: Workflow) -> WorkflowDraft:
    """The workflow's draft; one made from the published version if there is none yet."""
    draft = db.session.get(WorkflowDraft, workflow.id)
    if draft is None:
        draft = WorkflowDraft(
            workflow_id=workflow.id,
            definition=normalised(workflow.definition),
            based_on_version=workflow.version,
            updated_at=workflow.updated_at,
        )
        db.session.add(draft)
        db.session.flush()
    return draft


def add_version(user: User, workflow: Workflow, definition: dict, note: str | None = None) -> int:
    """``definition`` (validated already) as the workflow's next published version, which
    the draft is then set to; the new number."""
    version = workflow.version + 1
    definition = normalised(definition)
    db.session.add(
        WorkflowVersion(
            workflow_id=workflow.id, version=version, definition=definition, published_by=user.id, note=note or None
        )
    )
    db.session.flush()
    workflow.version = version
    draft = db.session.get(WorkflowDraft, workflow.id)
    if draft is None:
        db.session.add(WorkflowDraft(workflow_id=workflow.id, definition=definition, based_on_version=version))
    else:
        draft.definition, draft.based_on_version, draft.updated_at = definition, version, utcnow()
    return version
