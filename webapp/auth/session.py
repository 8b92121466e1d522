"""The browser session: Flask-Login, for pages only (the API takes API keys)."""

from __future__ import annotations

from flask import Flask

from ..extensions import db, login_manager
from ..models import User


def init_app(app: Flask) -> None:
    login_manager.session_protection = "strong"  # a session moved to another client is dropped
    login_manager.login_view = "ui.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, user_id)
