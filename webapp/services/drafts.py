"""Drafts, versions and publishing (docs/api.md, "Drafts, versions and publishing").

What runs is always a published ``WorkflowVersion``; what the owner edits is the
workflow's one ``WorkflowDraft``, kept whatever its problems. Only the owner sees the
draft: for anyone else it does not exist (404), public workflow or not.
"""

from __future__ import annotations

from sqlalchemy import func, select

from ..engine.errors import Problem
from ..errors import NotFound, NothingToPublish, TooLarge
from ..evaluations.gate import refuse_untested
from ..extensions import db
from ..models import User, Workflow, WorkflowDraft, WorkflowVersion, utcnow
from . import audit
from .definitions import compile_definition, oversize, problems_in
from .versions import add_version, draft_of, normalised
from .workflows import visible_workflow


def own_workflow(user: User, workflow_id: str) -> Workflow:
    """The caller's own workflow; anyone else's is "not found", even a public one."""
    workflow = visible_workflow(user, workflow_id)
    if workflow.owner_id != user.id:
        raise NotFound(f"No workflow '{workflow_id}'")
    return workflow


def is_changed(workflow: Workflow, draft: WorkflowDraft) -> bool:
    """Whether the draft differs from the latest published version."""
    return normalised(draft.definition) != normalised(workflow.definition)


def read_draft(user: User, workflow_id: str) -> tuple[Workflow, WorkflowDraft]:
    workflow = own_workflow(user, workflow_id)
    draft = draft_of(workflow)
    db.session.commit()
    return workflow, draft


def save_draft(user: User, workflow_id: str, definition: dict) -> tuple[Workflow, WorkflowDraft]:
    """Kept whatever its problems (the answer lists them); only a draft past the size
    bounds is refused (413): no page could draw it, no run could use it."""
    workflow = own_workflow(user, workflow_id)
    definition = normalised(definition)
    too_large = oversize(definition)
    if too_large is not None:
        raise TooLarge(f"The draft is too large: {too_large.message}", [too_large])
    draft = draft_of(workflow)
    if normalised(draft.definition) != definition:
        draft.definition, draft.updated_at = definition, utcnow()
    db.session.commit()
    return workflow, draft


def draft_problems(draft: WorkflowDraft) -> list[Problem]:
    return problems_in(draft.definition)


def publish(user: User, workflow_id: str, note: str | None = None) -> Workflow:
    """The draft becomes the next version: 422 with its problems, 409 when it is the
    published version already, or when the workflow requires passing tests and its
    newest test run did not pass every case."""
    workflow = own_workflow(user, workflow_id)
    draft = draft_of(workflow)
    if not is_changed(workflow, draft):
        raise NothingToPublish(f"The draft is version {workflow.version} as published; nothing to publish")
    compile_definition(draft.definition)  # ValidationFailed (422): nothing published
    refuse_untested(workflow, draft.definition)  # TestsFailed (409): nor without passing tests, if asked
    version = add_version(user, workflow, draft.definition, note)
    workflow.updated_at = utcnow()
    audit.record("workflow.version_published", user, "workflow", workflow.id, details={"version": version})
    db.session.commit()
    db.session.refresh(workflow)
    return workflow


def list_versions(user: User, workflow_id: str, *, limit: int = 20, offset: int = 0):
    workflow = own_workflow(user, workflow_id)
    scope = WorkflowVersion.workflow_id == workflow.id
    total = db.session.scalar(select(func.count()).select_from(WorkflowVersion).where(scope))
    rows = db.session.scalars(
        select(WorkflowVersion).where(scope).order_by(WorkflowVersion.version.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


def get_version(user: User, workflow_id: str, number: int) -> WorkflowVersion:
    return _version(own_workflow(user, workflow_id), number)


def _version(workflow: Workflow, number: int) -> WorkflowVersion:
    version = db.session.get(WorkflowVersion, (workflow.id, number)) if 0 < number < 2**31 else None
    if version is None:
        raise NotFound(f"Workflow '{workflow.id}' has no version {number}")
    return version


def restore_version(user: User, workflow_id: str, number: int) -> WorkflowDraft:
    """An older version back into the draft (publishing it makes it the newest)."""
    workflow = own_workflow(user, workflow_id)
    version = _version(workflow, number)
    draft = draft_of(workflow)
    draft.definition, draft.updated_at = normalised(version.definition), utcnow()
    audit.record("workflow.version_restored", user, "workflow", workflow.id, details={"version": number})
    db.session.commit()
    return draft


def differences(version: dict, draft: dict) -> dict[str, list[str] | bool]:
    """What the draft changes against a version, by node id: the nodes it adds, removes
    and changes, and whether its connections differ (what a version list shows)."""

    def by_id(definition: dict) -> dict:
        nodes = definition.get("nodes") or []
        return {n.get("id"): n for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str)}

    before, after = by_id(version), by_id(draft)
    return {
        "added": [i for i in after if i not in before],
        "removed": [i for i in before if i not in after],
        "changed": [i for i in after if i in before and after[i] != before[i]],
        "rewired": (version.get("connections") or []) != (draft.get("connections") or []),
    }
