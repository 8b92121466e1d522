"""The template catalogue, loaded from the data files in ``catalogue/``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..schemas.workflows import CATEGORY_MAX, NAME_MAX
from .base import JSONType, new_id, utcnow


class Template(db.Model):
    __tablename__ = "templates"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("tpl"))
    slug: Mapped[str] = mapped_column(String(100), unique=True)  # the data file's name
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(CATEGORY_MAX), index=True)
    how_to_use: Mapped[str] = mapped_column(Text, default="")
    definition: Mapped[dict] = mapped_column(JSONType)
    example_inputs: Mapped[dict] = mapped_column(JSONType, default=dict)  # what it runs with as it is
    usage_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
