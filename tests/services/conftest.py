"""Services called as the API and the UI call them: inside an app context, as a user,
on SQLite and PostgreSQL, no HTTP in between."""

from __future__ import annotations

import pytest

from tests.conftest import make_user
from webapp.extensions import db
from webapp.models import User


@pytest.fixture
def as_user(app):
    """Two users' rows, inside one app context held for the test."""
    alice, _ = make_user(app, "alice@example.com")
    bob, _ = make_user(app, "bob@example.com")
    with app.app_context():
        yield db.session.get(User, alice.id), db.session.get(User, bob.id)
