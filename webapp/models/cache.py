"""The model response cache, when there is no Redis to keep it in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONType


class CachedResponse(db.Model):
    __tablename__ = "model_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict] = mapped_column(JSONType)
    expires_at: Mapped[datetime] = mapped_column(index=True)
