"""Workflows: what the API and the UI both call to list, change, rate and copy them.

Access, in one place: a workflow is visible to its owner, and to everyone when
public; anything invisible is "not found" (so its existence does not leak), and a
visible workflow someone else owns may be read, run and cloned but not changed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, func, or_, select, update

from ..engine.errors import Problem
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..models import Rating, User, Workflow, WorkflowVersion, isoformat, utcnow
from ..models.workflow import visible_to
from . import audit
from .definitions import compile_definition, definition_of

EXPORT_FORMAT = "ai-workflow"
EXPORT_VERSION = 1
READ_ONLY_FIELDS = {"id", "version", "created_at", "updated_at", "created_by", "usage_count", "rating"}
_TEXT_FIELDS = {"name": 200, "description": 10_000, "category": 64}


# -- access ------------------------------------------------------------------------------


def visible_workflow(user: User, workflow_id: str) -> Workflow:
    workflow = db.session.get(Workflow, workflow_id) if isinstance(workflow_id, str) else None
    return _seen_by(user, workflow, workflow_id)


_workflows = Workflow.__table__
# What a start needs of its workflow, built once: every execute reads it.
_RUNNABLE = select(
    _workflows.c.id, _workflows.c.version, _workflows.c.owner_id, _workflows.c.public, _workflows.c.deleted_at
).where(_workflows.c.id == bindparam("workflow_id"))


def runnable_workflow(user: User, workflow_id: str) -> Row:
    """``visible_workflow`` for a start: its id and current version, without building
    an ORM object (a tenth of an execute's time in the web)."""
    row = db.session.execute(_RUNNABLE, {"workflow_id": workflow_id}).first() if isinstance(workflow_id, str) else None
    return _seen_by(user, row, workflow_id)


def _seen_by(user: User, workflow, workflow_id: str):
    if workflow is None or not visible_to(workflow, user.id):
        raise NotFound(f"No workflow '{workflow_id}'")
    return workflow


def owned_workflow(user: User, workflow_id: str) -> Workflow:
    workflow = visible_workflow(user, workflow_id)
    if workflow.owner_id != user.id:
        raise Forbidden("Only the owner can change or delete this workflow")
    return workflow


# -- reading -------------------------------------------------------------------------------


def list_workflows(
    user: User,
    *,
    limit: int = 20,
    offset: int = 0,
    category: str | None = None,
    include_public: bool = False,
    search: str | None = None,
) -> tuple[list[Workflow], int]:
    """Newest ``updated_at`` first; ids are time-ordered, so ties go to the newest."""
    mine = Workflow.owner_id == user.id
    query = select(Workflow).where(
        Workflow.deleted_at.is_(None), or_(mine, Workflow.public) if include_public else mine
    )
    if category:
        query = query.where(Workflow.category == category)
    if search:
        pattern = f"%{search.strip().lower()}%"
        query = query.where(
            or_(func.lower(Workflow.name).like(pattern), func.lower(Workflow.description).like(pattern))
        )
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(
        query.order_by(Workflow.updated_at.desc(), Workflow.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


def categories(user: User) -> list[str]:
    query = select(Workflow.category).where(Workflow.deleted_at.is_(None), Workflow.owner_id == user.id).distinct()
    return sorted(db.session.scalars(query))


# -- changing --------------------------------------------------------------------------------


def read_fields(body: Any, *, creating: bool) -> dict:
    """The settable fields of a create/update body, or 422 listing every problem."""
    problems: list[Problem] = []
    fields: dict = {}
    for key, value in body.items():
        if key in READ_ONLY_FIELDS:
            continue  # clients often send back what they GET; ignore, do not refuse
        if key in _TEXT_FIELDS:
            if not isinstance(value, str) and not (value is None and key != "name"):
                problems.append(Problem(key, "invalid_value", f"'{key}' must be a string"))
            elif value is not None and len(value) > _TEXT_FIELDS[key]:
                problems.append(
                    Problem(key, "invalid_value", f"'{key}' must be at most {_TEXT_FIELDS[key]} characters")
                )
            elif key == "name" and not value.strip():
                problems.append(Problem(key, "invalid_value", "'name' must not be empty"))
            else:
                fields[key] = value if value is not None else ("general" if key == "category" else "")
        elif key == "public":
            if isinstance(value, bool):
                fields[key] = value
            else:
                problems.append(Problem(key, "invalid_value", "'public' must be true or false"))
        elif key == "connections" and value is None:
            fields[key] = []  # "no connections", as on create
        elif key in ("nodes", "connections"):
            fields[key] = value  # the definition validator checks these
        else:
            problems.append(Problem(key, "unknown_field", f"unknown field '{key}'"))
    if creating and "name" not in fields and not any(p.path == "name" for p in problems):
        problems.append(Problem("name", "missing_field", "'name' is required"))
    if problems:
        raise ValidationFailed("Request body is invalid", problems)
    return fields


def create_workflow(
    user: User, fields: dict, *, template_id: str | None = None, cloned_from: str | None = None
) -> Workflow:
    definition = definition_of(fields)
    compile_definition(definition)
    workflow = Workflow(
        owner_id=user.id,
        name=fields["name"],
        description=fields.get("description", ""),
        category=fields.get("category") or "general",
        public=fields.get("public", False),
        template_id=template_id,
        cloned_from=cloned_from,
    )
    db.session.add(workflow)
    db.session.flush()
    db.session.add(WorkflowVersion(workflow_id=workflow.id, version=1, definition=definition))
    audit.record("workflow.created", user, "workflow", workflow.id)
    db.session.commit()
    return workflow


def update_workflow(user: User, workflow_id: str, fields: dict) -> Workflow:
    """PUT and PATCH alike: fields left out keep their values. A changed definition
    is validated as a whole and becomes a new version."""
    workflow = owned_workflow(user, workflow_id)
    changed = []
    for key in ("name", "description", "category", "public"):
        if key in fields and getattr(workflow, key) != fields[key]:
            setattr(workflow, key, fields[key])
            changed.append(key)
    if "nodes" in fields or "connections" in fields:
        current = workflow.definition
        definition = {
            "nodes": fields["nodes"] if "nodes" in fields else current["nodes"],
            "connections": fields["connections"] if "connections" in fields else current.get("connections", []),
        }
        if definition != {"nodes": current["nodes"], "connections": current.get("connections", [])}:
            compile_definition(definition)
            version = workflow.version + 1
            db.session.add(WorkflowVersion(workflow_id=workflow.id, version=version, definition=definition))
            db.session.flush()
            workflow.version = version
            changed.append("definition")
    if changed:
        workflow.updated_at = utcnow()
        audit.record("workflow.changed", user, "workflow", workflow.id, details={"fields": changed})
        if "public" in changed:
            audit.record(
                "workflow.published" if workflow.public else "workflow.unpublished", user, "workflow", workflow.id
            )
    db.session.commit()
    db.session.refresh(workflow)
    return workflow


def delete_workflow(user: User, workflow_id: str) -> None:
    """Soft delete: the workflow disappears, its executions stay readable."""
    workflow = owned_workflow(user, workflow_id)
    workflow.deleted_at = utcnow()
    audit.record("workflow.deleted", user, "workflow", workflow.id)
    db.session.commit()


def rate_workflow(user: User, workflow_id: str, value: Any) -> Workflow:
    workflow = visible_workflow(user, workflow_id)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ValidationFailed(
            "Rating is invalid", [Problem("rating", "invalid_value", "'rating' must be an integer from 1 to 5")]
        )
    rating = db.session.get(Rating, (workflow.id, user.id))
    if rating is None:
        db.session.add(Rating(workflow_id=workflow.id, user_id=user.id, value=value))
    else:
        rating.value, rating.rated_at = value, utcnow()
    db.session.flush()
    mean, count = db.session.execute(
        select(func.avg(Rating.value), func.count()).where(Rating.workflow_id == workflow.id)
    ).one()
    db.session.execute(
        update(Workflow).where(Workflow.id == workflow.id).values(rating=round(float(mean), 1), rating_count=count)
    )
    db.session.commit()
    db.session.refresh(workflow)
    return workflow


def clone_workflow(user: User, workflow_id: str, *, name: str | None = None) -> Workflow:
    source = visible_workflow(user, workflow_id)
    fields = {
        "name": name or f"{source.name} (copy)"[:200],
        "description": source.description,
        "category": source.category,
        **source.definition,
    }
    return create_workflow(user, fields, template_id=source.template_id, cloned_from=source.id)


def export_document(user: User, workflow_id: str) -> dict:
    workflow = visible_workflow(user, workflow_id)
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "exported_at": isoformat(utcnow()),
        "workflow": {
            "name": workflow.name,
            "description": workflow.description,
            "category": workflow.category,
            "nodes": workflow.definition["nodes"],
            "connections": workflow.definition.get("connections", []),
        },
    }


def import_document(user: User, document: dict) -> Workflow:
    """Accepts an export document (or, leniently, a plain create body)."""
    if "workflow" in document or "format" in document:
        problems = []
        if document.get("format") != EXPORT_FORMAT:
            problems.append(Problem("format", "invalid_value", f"'format' must be '{EXPORT_FORMAT}'"))
        elif document.get("format_version") != EXPORT_VERSION:
            problems.append(
                Problem("format_version", "invalid_value", f"only format_version {EXPORT_VERSION} is understood")
            )
        body = document.get("workflow")
        if not isinstance(body, dict):
            problems.append(
                Problem(
                    "workflow",
                    "missing_field" if body is None else "invalid_value",
                    "'workflow' must be an object with name, nodes and connections",
                )
            )
        if problems:
            raise ValidationFailed("Import document is invalid", problems)
    else:
        body = document
    fields = read_fields({k: v for k, v in body.items() if k != "public"}, creating=True)
    return create_workflow(user, fields)
