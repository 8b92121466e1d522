"""What starts a workflow without anyone pressing Run: webhooks and schedules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONType, new_id, utcnow


class Trigger(db.Model):
    __tablename__ = "triggers"
    __table_args__ = (
        Index("ix_triggers_due", "type", "enabled", "next_run_at"),
        Index("ix_triggers_workflow", "workflow_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("trg"))
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16))  # engine.status.TriggerType
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A webhook: its token's SHA-256 finds it; the token itself, encrypted, makes its URL again.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_encrypted: Mapped[str | None] = mapped_column(String(400))
    # A schedule: a cron expression in a timezone, or an interval; the inputs of each run.
    cron: Mapped[str | None] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    interval_seconds: Mapped[int | None]
    inputs: Mapped[dict] = mapped_column(JSONType, default=dict)
    next_run_at: Mapped[datetime | None]  # claimed with a compare-and-set: one run per due time
    last_run_at: Mapped[datetime | None]
