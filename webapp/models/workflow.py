"""Workflows, their immutable definition versions, and ratings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String, Text, and_, false
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from ..extensions import db
from ..schemas.workflows import CATEGORY_MAX, DEFAULT_CATEGORY, NAME_MAX
from .base import JSONType, new_id, utcnow


class Workflow(db.Model):
    __tablename__ = "workflows"
    __table_args__ = (
        Index("ix_workflows_owner_listing", "owner_id", "deleted_at", "updated_at"),
        Index("ix_workflows_public_listing", "public", "deleted_at", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("wf"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(CATEGORY_MAX), default=DEFAULT_CATEGORY)
    public: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    usage_count: Mapped[int] = mapped_column(default=0)  # executions started: a trigger counts (0006)
    rating: Mapped[float | None]
    rating_count: Mapped[int] = mapped_column(default=0)
    # Publishing asks for a passing test run of the exact draft (``evaluations/gate.py``).
    require_passing_tests: Mapped[bool] = mapped_column(default=False, server_default=false())
    template_id: Mapped[str | None] = mapped_column(String(40))
    cloned_from: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]

    # The definition lives in WorkflowVersion rows; this is the current one, loaded
    # only when asked for (authorising a run or listing needs no definition).
    current: Mapped[WorkflowVersion] = relationship(
        primaryjoin=lambda: and_(
            foreign(WorkflowVersion.workflow_id) == Workflow.id,
            foreign(WorkflowVersion.version) == Workflow.version,
        ),
        viewonly=True,
    )

    @property
    def definition(self) -> dict:
        return self.current.definition


def visible_to(workflow, user_id: str) -> bool:
    """Who may see a workflow: a ``Workflow``, or a row with the same three columns."""
    return workflow.deleted_at is None and (workflow.owner_id == user_id or workflow.public)


class WorkflowVersion(db.Model):
    """A definition as it stood at one version. Never changed once written, so an
    execution can always find the exact graph it ran, and parsed graphs can be
    cached by (workflow_id, version)."""

    __tablename__ = "workflow_versions"

    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    definition: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))  # None: before 0009
    note: Mapped[str | None] = mapped_column(Text)


class WorkflowDraft(db.Model):
    """The one definition the owner edits: kept whatever its problems, read by nothing
    that runs unless a run asks for it (``version: "draft"``). Publishing copies it into
    a new ``WorkflowVersion``."""

    __tablename__ = "workflow_drafts"

    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"), primary_key=True)
    definition: Mapped[dict] = mapped_column(JSONType)
    based_on_version: Mapped[int]  # the published version it was last set from
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Outputs pinned in the editor's Test panel, node id → output: given to its test runs.
    pins: Mapped[dict | None] = mapped_column(JSONType)


class Rating(db.Model):
    __tablename__ = "ratings"
    __table_args__ = (ForeignKeyConstraint(["workflow_id"], ["workflows.id"]),)

    workflow_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    value: Mapped[int]
    rated_at: Mapped[datetime] = mapped_column(default=utcnow)
