"""People and the API keys they sign requests with."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .base import new_id, utcnow

API_KEY_PREFIX = "wfk_"
LOOKUP_LENGTH = 12  # "wfk_" + 8 random characters: enough to find the row, useless to guess


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("user"))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Per-user overrides of the monthly budgets; None means "the configured default".
    token_budget: Mapped[int | None]
    cost_budget: Mapped[float | None]

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user", cascade="all, delete-orphan")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)  # scrypt

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class ApiKey(db.Model):
    """Only a SHA-256 of the key is stored: keys carry 256 random bits, so a slow
    hash would add latency to every request without adding safety."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("key"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    lookup: Mapped[str] = mapped_column(String(LOOKUP_LENGTH), index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="api_keys")

    @staticmethod
    def generate() -> str:
        return API_KEY_PREFIX + secrets.token_urlsafe(32)

    @staticmethod
    def digest(raw_key: str) -> str:
        return hashlib.sha256(raw_key.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str = "") -> tuple[ApiKey, str]:
        """A new key row and the raw key, which is shown once and never stored."""
        raw = cls.generate()
        key = cls(user=user, name=name, lookup=raw[:LOOKUP_LENGTH], key_hash=cls.digest(raw))
        return key, raw

    @property
    def masked(self) -> str:
        return f"{self.lookup}…"


class BrowserSession(db.Model):
    """A signed-in browser, known on the server: the cookie names it, and it ends
    when its person signs out, changes their password, or it outlives
    ``SESSION_LIFETIME_HOURS`` — whatever a copied cookie still says."""

    __tablename__ = "browser_sessions"

    id: Mapped[str] = mapped_column(String(48), primary_key=True, default=lambda: secrets.token_urlsafe(32))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
