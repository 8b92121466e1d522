"""Evaluations: a workflow's test cases, and test runs that run them all and score them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..engine.status import CaseStatus, TestRunStatus
from ..extensions import db
from ..schemas.workflows import NAME_MAX
from .base import JSONType, new_id, utcnow


class TestCase(db.Model):
    """Inputs to run a workflow with, and checks over the outputs it should give."""

    __tablename__ = "test_cases"
    __test__ = False  # not a pytest class, whatever its name
    __table_args__ = (Index("ix_test_cases_workflow", "workflow_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("tc"))
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    inputs: Mapped[dict] = mapped_column(JSONType, default=dict)
    checks: Mapped[list] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TestRun(db.Model):
    """Every case of a workflow run against one version (``version`` None: the draft)."""

    __tablename__ = "test_runs"
    __test__ = False  # not a pytest class, whatever its name
    __table_args__ = (
        Index("ix_test_runs_workflow", "workflow_id", "created_at"),
        Index("ix_test_runs_digest", "workflow_id", "definition_digest", "created_at"),
        Index("ix_test_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("tr"))
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int | None]  # None: the draft (its definition is on each case's execution)
    # What ran, as a digest: the publish gate asks for a passing run of this exact draft.
    definition_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=TestRunStatus.RUNNING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    cases: Mapped[list[TestRunCase]] = relationship(
        back_populates="test_run", order_by="TestRunCase.position", cascade="all, delete-orphan"
    )


class TestRunCase(db.Model):
    """One case as a test run ran it: its checks as they stood then, its execution, and
    each check's result once scored (with what a judge model spent)."""

    __tablename__ = "test_run_cases"
    __test__ = False  # not a pytest class, whatever its name
    __table_args__ = (Index("ix_test_run_cases_execution", "execution_id"),)

    test_run_id: Mapped[str] = mapped_column(ForeignKey("test_runs.id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    test_id: Mapped[str] = mapped_column(String(40))  # not a foreign key: the case may be deleted since
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    checks: Mapped[list] = mapped_column(JSONType, default=list)
    execution_id: Mapped[str | None] = mapped_column(ForeignKey("executions.id"))  # None: it could not start
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.PENDING)
    results: Mapped[list | None] = mapped_column(JSONType)  # [{"kind", "output", "passed", "detail"}…]
    detail: Mapped[str | None] = mapped_column(String(1000))  # why it is an error, when no check says
    scored_at: Mapped[datetime | None]
    # Taken by a scorer (a lease: past EXECUTION_TIMEOUT + WORKER_LOST_AFTER, its scorer is gone).
    scoring_since: Mapped[datetime | None]
    # A judge's spending (the execution's own is on its row).
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    total_tokens: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float] = mapped_column(default=0.0)

    test_run: Mapped[TestRun] = relationship(back_populates="cases")
