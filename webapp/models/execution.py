"""Executions and the record of every node they ran."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..engine.status import FINISHED, NodeStatus, RunStatus
from ..extensions import db
from .base import JSONType, new_id, utcnow


class Execution(db.Model):
    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_workflow_history", "workflow_id", "created_at"),
        Index("ix_executions_user_history", "user_id", "created_at", "id"),
        Index("ix_executions_user_workflow_history", "user_id", "workflow_id", "created_at", "id"),
        Index("ix_executions_active", "status", "queue", "heartbeat_at"),
        Index("ix_executions_user_status", "user_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("exec"))
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"))
    workflow_version: Mapped[int]  # a draft's run: the published version its draft grew from
    # A test run of the draft: the definition it ran (a draft changes; this stays as it was run).
    definition: Mapped[dict | None] = mapped_column(JSONType)
    run_until: Mapped[str | None] = mapped_column(String(64))  # a test run's ``until`` node
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    retry_of: Mapped[str | None] = mapped_column(ForeignKey("executions.id"))
    trigger: Mapped[str] = mapped_column(String(16), default="api", server_default="api")  # engine.status.Trigger
    trigger_id: Mapped[str | None] = mapped_column(String(40))
    # A workflow node's child run: the execution it runs inside (its usage counts there).
    parent_execution_id: Mapped[str | None] = mapped_column(ForeignKey("executions.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED)
    inputs: Mapped[dict] = mapped_column(JSONType, default=dict)
    outputs: Mapped[dict | None] = mapped_column(JSONType)
    error: Mapped[dict | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Refreshed by whoever holds the execution; silence means its worker is gone.
    heartbeat_at: Mapped[datetime | None]
    runner: Mapped[str | None] = mapped_column(String(120))  # host:pid that ran it, for operators
    job_id: Mapped[str | None] = mapped_column(String(80))  # the RQ job, in queue mode
    # "local", or the RQ queue it was given to: a reaper settles only its own lane's runs.
    queue: Mapped[str] = mapped_column(String(64), default="local", server_default="local")
    # Queued but held back: its owner had MAX_RUNNING_PER_USER running when it came up.
    # A run of theirs that ends wakes the oldest (``runs/fairshare.py``).
    waiting_since: Mapped[datetime | None]
    # Running, but waiting only on its own child runs: its place among the owner's
    # MAX_RUNNING_PER_USER is theirs meanwhile (``runs/places.py``).
    lending: Mapped[bool] = mapped_column(default=False, server_default=false())
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    total_tokens: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float] = mapped_column(default=0.0)
    cost_saved_usd: Mapped[float] = mapped_column(default=0.0)

    nodes: Mapped[list[NodeRun]] = relationship(
        back_populates="execution", order_by="NodeRun.position", cascade="all, delete-orphan"
    )
    workflow = relationship("Workflow", lazy="raise")

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000)


class NodeRun(db.Model):
    __tablename__ = "node_runs"
    __table_args__ = (Index("ix_node_runs_execution", "execution_id", "position", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"))
    position: Mapped[int]
    node_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=NodeStatus.PENDING)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    input: Mapped[object | None] = mapped_column(JSONType)
    output: Mapped[object | None] = mapped_column(JSONType)
    error: Mapped[dict | None] = mapped_column(JSONType)
    # None = the model did not report usage (unknown), not zero.
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    total_tokens: Mapped[int | None]
    cost_usd: Mapped[float] = mapped_column(default=0.0)
    cost_saved_usd: Mapped[float] = mapped_column(default=0.0)
    cached: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    reused_from: Mapped[str | None] = mapped_column(String(40))
    pinned: Mapped[bool] = mapped_column(default=False)  # a test run's given output: it did not run

    execution: Mapped[Execution] = relationship(back_populates="nodes")

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000)


class ExecutionCount(db.Model):
    """How many executions a user has started of a workflow, counted as they start (by
    the database: a trigger on ``executions``, migration 0006): a history's ``total``
    read from one row, not counted over rows that keep growing."""

    __tablename__ = "execution_counts"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class IdempotencyKey(db.Model):
    """A client's ``Idempotency-Key`` and the execution it started, kept for a day."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
