"""Workflows: what the API and the UI both call to list, change, rate and copy them.

Access, in one place: a workflow is visible to its owner, and to everyone when
public; anything invisible is "not found" (so its existence does not leak), and a
visible workflow someone else owns may be read, run and cloned but not changed.
"""

from __future__ import annotations

from sqlalchemy import Row, bindparam, func, or_, select, update

from ..errors import Forbidden, NotFound
from ..evaluations.gate import refuse_untested
from ..extensions import db
from ..models import Rating, User, Workflow, isoformat, utcnow
from ..models.workflow import visible_to
from ..schemas.workflows import (
    DEFAULT_CATEGORY,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    NAME_MAX,
    ImportDocument,
    WorkflowCreate,
)
from . import audit
from .definitions import compile_definition, definition_of
from .versions import add_version

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


def create_workflow(
    user: User, fields: dict, *, template_id: str | None = None, cloned_from: str | None = None
) -> Workflow:
    definition = definition_of(fields)
    compile_definition(definition)
    workflow = Workflow(
        owner_id=user.id,
        name=fields["name"],
        description=fields.get("description", ""),
        category=fields.get("category") or DEFAULT_CATEGORY,
        public=fields.get("public", False),
        require_passing_tests=fields.get("require_passing_tests", False),
        template_id=template_id,
        cloned_from=cloned_from,
        version=0,  # none published yet: add_version publishes 1
    )
    db.session.add(workflow)
    db.session.flush()
    add_version(user, workflow, definition)  # version 1, published, and the draft
    audit.record("workflow.created", user, "workflow", workflow.id)
    db.session.commit()
    return workflow


def update_workflow(user: User, workflow_id: str, fields: dict) -> Workflow:
    """PUT and PATCH alike: fields left out keep their values. A changed definition
    is validated as a whole, before anything is changed, and becomes a new published
    version, which the draft is set to (what API clients have always had)."""
    workflow = owned_workflow(user, workflow_id)
    definition = _changed_definition(workflow, fields)  # 422 here leaves the workflow untouched
    if definition is not None:  # held by the gate as it stands: the same body cannot lift it first (409)
        refuse_untested(workflow, definition)
    changed = []
    for key in ("name", "description", "category", "public", "require_passing_tests"):
        if key in fields and getattr(workflow, key) != fields[key]:
            setattr(workflow, key, fields[key])
            changed.append(key)
    if definition is not None:
        add_version(user, workflow, definition)  # published at once, and the draft set to it
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


def _changed_definition(workflow: Workflow, fields: dict) -> dict | None:
    """The new definition, validated, if ``fields`` change it; else ``None``."""
    if "nodes" not in fields and "connections" not in fields:
        return None
    current = workflow.definition
    current = {"nodes": current["nodes"], "connections": current.get("connections", [])}
    definition = {key: fields.get(key, current[key]) for key in ("nodes", "connections")}
    if definition == current:
        return None
    compile_definition(definition)
    return definition


def delete_workflow(user: User, workflow_id: str) -> None:
    """Soft delete: the workflow disappears, its executions stay readable."""
    workflow = owned_workflow(user, workflow_id)
    workflow.deleted_at = utcnow()
    audit.record("workflow.deleted", user, "workflow", workflow.id)
    db.session.commit()


def rate_workflow(user: User, workflow_id: str, value: int) -> Workflow:
    """``value``: 1 to 5, as ``schemas.workflows.RatingRequest`` has checked."""
    workflow = visible_workflow(user, workflow_id)
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


def unused_name(user: User, wanted: str) -> str:
    """``wanted``, or else ``wanted (2)``, ``(3)``…: the first none of the user's live
    workflows has, within NAME_MAX (what a copy is called when no name is given)."""
    prefix = wanted[: NAME_MAX - len(" (999)")]
    taken = set(
        db.session.scalars(
            select(Workflow.name).where(
                Workflow.owner_id == user.id,
                Workflow.deleted_at.is_(None),
                or_(Workflow.name == wanted, Workflow.name.startswith(f"{prefix} (", autoescape=True)),
            )
        )
    )
    if wanted not in taken:
        return wanted
    return next(f"{prefix} ({n})" for n in range(2, len(taken) + 3) if f"{prefix} ({n})" not in taken)


def clone_workflow(user: User, workflow_id: str, *, name: str | None = None) -> Workflow:
    source = visible_workflow(user, workflow_id)
    fields = {
        "name": name or unused_name(user, f"{source.name} (copy)"[:NAME_MAX]),
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


def import_document(user: User, document: ImportDocument | WorkflowCreate) -> Workflow:
    """An export document (or, leniently, a plain create body), as
    ``schemas.workflows.ImportRequest`` has read it; the copy is private whatever it says."""
    body = document.workflow if isinstance(document, ImportDocument) else document
    return create_workflow(user, {**body.fields(), "public": False})
