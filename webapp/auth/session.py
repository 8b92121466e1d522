"""The browser session: Flask-Login, for pages only (the API takes API keys).

The cookie alone is not enough: it names a ``BrowserSession`` row, and the session
lasts only as long as that row does. Signing out ends it, changing the password ends
every other one, and none outlives ``SESSION_LIFETIME_HOURS`` — so a copied cookie
stops working when its owner signs out, not when it expires in the browser.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, session
from flask_login import login_user, logout_user
from sqlalchemy import select, update

from ..extensions import db, login_manager
from ..models import BrowserSession, User, utcnow

SESSION_KEY = "sid"


def init_app(app: Flask) -> None:
    login_manager.session_protection = "strong"  # a session moved to another client is dropped
    login_manager.login_view = "ui.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"


def start(user: User) -> None:
    """A fresh session on sign-in: nothing from before (no fixation) carries over."""
    session.clear()
    lifetime = timedelta(hours=current_app.config["SESSION_LIFETIME_HOURS"])
    record = BrowserSession(user_id=user.id, expires_at=utcnow() + lifetime)
    db.session.add(record)
    db.session.commit()
    session[SESSION_KEY] = record.id
    session.permanent = True  # the cookie's own expiry: PERMANENT_SESSION_LIFETIME, the same lifetime
    login_user(user)


def end() -> None:
    """Sign-out: the session ends on the server, whatever copies of the cookie exist."""
    _end(BrowserSession.id == session.get(SESSION_KEY))
    logout_user()
    session.clear()


def end_others(user: User) -> None:
    """Every session of ``user`` but this one ends (after a password change)."""
    _end(BrowserSession.user_id == user.id, BrowserSession.id != session.get(SESSION_KEY))


def _end(*which) -> None:
    db.session.execute(
        update(BrowserSession).where(*which, BrowserSession.ended_at.is_(None)).values(ended_at=utcnow())
    )
    db.session.commit()


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user, if this request's cookie names a session of theirs that is still open."""
    sid = session.get(SESSION_KEY)
    if not isinstance(sid, str):
        return None
    return db.session.scalar(
        select(User)
        .join(BrowserSession, BrowserSession.user_id == User.id)
        .where(
            User.id == user_id,
            BrowserSession.id == sid,
            BrowserSession.ended_at.is_(None),
            BrowserSession.expires_at > utcnow(),
        )
    )
