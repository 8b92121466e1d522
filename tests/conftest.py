"""Fixtures shared by every test: the app on each database, clients, users, the
loopback model server, and the real services (PostgreSQL, Redis) when present.

Database-backed tests run twice, on SQLite and on PostgreSQL (``database_url`` is
parametrised). A missing service skips its tests with the reason, unless
``REQUIRE_SERVICES=1`` (as in ``.ci/run``), where it fails them instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import psycopg
import pytest
import redis as redis_lib
from flask_migrate import upgrade
from sqlalchemy import text

from tests.model_server import ModelServer
from webapp import create_app
from webapp.auth import accounts
from webapp.config import TestConfig
from webapp.extensions import db

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
PASSWORD = "correct horse battery"


def require(service: str, available: bool, why: str = "") -> None:
    if available:
        return
    message = f"{service} is not reachable{': ' + why if why else ''}"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (REQUIRE_SERVICES=1: a missing service is a failure)")
    pytest.skip(f"{message}; start it to run this test")


# -- services ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    server = ModelServer().start()
    yield server
    server.stop()


@pytest.fixture
def model(model_server: ModelServer) -> ModelServer:
    """The loopback model server, with this test's rules and counters only."""
    model_server.reset()
    return model_server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"wf_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        require("PostgreSQL", False, str(exc).strip().splitlines()[0])
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis_lib.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2).ping()
    except redis_lib.RedisError as exc:
        require("Redis", False, str(exc))
    return REDIS_TEST_URL


@pytest.fixture
def redis_client(redis_url: str) -> redis_lib.Redis:
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    return client


# -- the app ----------------------------------------------------------------------------

_migrated: set[str] = set()


def make_app(database_url: str, model_url: str, **overrides):
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = database_url
    config.OPENAI_BASE_URL = model_url
    app = create_app(config)
    app.config.update(overrides)
    with app.app_context():
        if database_url not in _migrated:
            upgrade()
            _migrated.add(database_url)
        _empty_tables()
    return app


def _empty_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()


def close_app(app) -> None:
    dispatcher = app.extensions.get("dispatcher")
    if dispatcher is not None and hasattr(dispatcher, "pool"):
        dispatcher.pool.shutdown(wait=True)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(database_url: str, model: ModelServer):
    app = make_app(database_url, model.base_url)
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """The test client, signed with one user's API key."""

    def __init__(self, client, user, key: str) -> None:
        self.client, self.user, self.key = client, user, key

    def _call(self, method: str, path: str, **kwargs):
        headers = {"Authorization": f"Bearer {self.key}", **kwargs.pop("headers", {})}
        return getattr(self.client, method)(f"/api/v1{path}", headers=headers, **kwargs)

    def get(self, path, **kw):
        return self._call("get", path, **kw)

    def post(self, path, **kw):
        return self._call("post", path, **kw)

    def put(self, path, **kw):
        return self._call("put", path, **kw)

    def patch(self, path, **kw):
        return self._call("patch", path, **kw)

    def delete(self, path, **kw):
        return self._call("delete", path, **kw)


def make_user(app, email: str) -> tuple[SimpleNamespace, str]:
    """A user (as plain values, usable outside the app context) and an API key."""
    with app.app_context():
        user = accounts.create_user(email, PASSWORD)
        key = accounts.issue_api_key(user, "tests")
        return SimpleNamespace(id=user.id, email=user.email), key


@pytest.fixture
def api(app, client) -> Api:
    user, key = make_user(app, "alice@example.com")
    return Api(client, user, key)


@pytest.fixture
def other_api(app) -> Api:
    user, key = make_user(app, "bob@example.com")
    return Api(app.test_client(), user, key)
