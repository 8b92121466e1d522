"""Read-only look-ups the browser pages need beside the shared services: the last
run of each workflow in a list, the names behind execution rows, the definition an
execution ran. Nothing here writes, and everything is scoped to the asking user.
"""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select

from ..extensions import db
from ..models import Execution, User, Workflow, WorkflowVersion


def last_runs(user: User, workflow_ids: list[str]) -> dict[str, Execution]:
    """The user's most recent execution of each workflow in ``workflow_ids``."""
    if not workflow_ids:
        return {}
    newest = (
        select(Execution.workflow_id, func.max(Execution.id).label("id"))
        .where(Execution.user_id == user.id, Execution.workflow_id.in_(workflow_ids))
        .group_by(Execution.workflow_id)
        .subquery()
    )
    rows = db.session.scalars(select(Execution).join(newest, Execution.id == newest.c.id))
    return {row.workflow_id: row for row in rows}


def workflow_names(user: User, workflow_ids: set[str] | list[str]) -> dict[str, tuple[str, bool]]:
    """id → (name, still there) for workflows the user owns, can see, or has run
    (the name of a workflow they ran stays readable after it is deleted)."""
    ids = list(set(workflow_ids))
    if not ids:
        return {}
    ran = select(Execution.workflow_id).where(Execution.user_id == user.id, Execution.workflow_id.in_(ids))
    rows = db.session.execute(
        select(Workflow.id, Workflow.name, Workflow.deleted_at, Workflow.owner_id, Workflow.public).where(
            Workflow.id.in_(ids), or_(Workflow.owner_id == user.id, Workflow.public, Workflow.id.in_(ran))
        )
    )
    return {row.id: (row.name, row.deleted_at is None and (row.owner_id == user.id or row.public)) for row in rows}


def history_choices(user: User) -> list[tuple[str, str]]:
    """(id, name) of the workflows the user owns, then of deleted ones they ran (a
    deleted workflow never run is no use as a filter), for the history and usage filters."""
    ran = select(Execution.workflow_id).where(Execution.user_id == user.id).distinct()
    rows = db.session.execute(
        select(Workflow.id, Workflow.name, Workflow.deleted_at)
        .where(
            or_(
                and_(Workflow.owner_id == user.id, Workflow.deleted_at.is_(None)),
                Workflow.id.in_(ran),
            )
        )
        .order_by(Workflow.deleted_at.is_not(None), func.lower(Workflow.name), Workflow.id)
    )
    return [(row.id, row.name + (" (deleted)" if row.deleted_at else "")) for row in rows]


def executed_definition(execution: Execution) -> dict:
    """The definition the execution ran: the draft it was given, or its version (versions never change)."""
    if execution.definition is not None:
        return execution.definition
    version = db.session.get(WorkflowVersion, (execution.workflow_id, execution.workflow_version))
    return version.definition if version is not None else {"nodes": [], "connections": []}
