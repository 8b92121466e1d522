"""A user's model providers: OpenAI-compatible servers with their own key and prices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONType, new_id, utcnow


class Provider(db.Model):
    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_providers_user_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("prv"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    base_url: Mapped[str] = mapped_column(String(500))
    api_key_encrypted: Mapped[str | None] = mapped_column(String(1000))  # Fernet: never stored in clear
    api_key_last4: Mapped[str | None] = mapped_column(String(4))
    models: Mapped[list] = mapped_column(JSONType, default=list)
    prices: Mapped[dict] = mapped_column(JSONType, default=dict)  # model → {"prompt", "completion"} per 1M tokens
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
