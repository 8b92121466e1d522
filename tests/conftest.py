"""Fixtures shared by every test: the app on each database, clients, users, the
loopback model server, and the real services (PostgreSQL, Redis) when present.

Database-backed tests run twice, on SQLite and on PostgreSQL (``database_url`` is
parametrised). A missing service skips its tests with the reason, unless
``REQUIRE_SERVICES=1`` (as in ``.ci/run``), where it fails them instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import psycopg
import pytest
import redis as redis_lib
from flask_migrate import upgrade
from rq import Worker
from sqlalchemy import text

from tests.http_server import ApiServer
from tests.model_server import ModelServer
from tests.waiting import eventually
from webapp import create_app, init_migrations
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


@pytest.fixture(scope="session")
def api_server() -> Iterator[ApiServer]:
    """A small HTTP API on loopback, for http_request nodes (tests/http_server.py)."""
    server = ApiServer().start()
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
# Closed after each test, even by a test that forgot: a live reaper would judge the next test's runs.
_open_apps: list = []


def make_app(database_url: str, model_url: str, **overrides):
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = database_url
    config.OPENAI_BASE_URL = model_url
    for key, value in overrides.items():  # before create_app: extensions read some settings once
        setattr(config, key, value)
    app = create_app(config)
    with app.app_context():
        if database_url not in _migrated:
            init_migrations(app)
            upgrade()
            _migrated.add(database_url)
        _empty_tables()
    _open_apps.append(app)
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
    if app in _open_apps:
        _open_apps.remove(app)
    for background in ("reaper", "heartbeat", "scheduler"):
        if background in app.extensions:
            app.extensions[background].stop()
    dispatcher = app.extensions.get("dispatcher")
    if dispatcher is not None and hasattr(dispatcher, "executor"):
        dispatcher.executor.shutdown()
    if "scorer" in app.extensions:
        app.extensions["scorer"].shutdown(wait=True, cancel_futures=True)
    if "sandboxes" in app.extensions:
        app.extensions["sandboxes"].close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _close_forgotten_apps():
    """Apps a test made and did not close (wider fixtures' apps are made before it starts)."""
    before = list(_open_apps)
    yield
    for app in [app for app in _open_apps if app not in before]:
        close_app(app)


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


# -- RQ workers ---------------------------------------------------------------------------

RQ = os.path.join(os.path.dirname(sys.executable), "rq")
WORKER_CLASS = "webapp.runs.worker.AppWorker"


class WorkerProcess:
    """A real ``rq worker`` process running our worker class against the test services."""

    def __init__(
        self, database_url: str, redis_url: str, model_url: str, queue: str, worker_class: str | None = None, **settings
    ) -> None:
        self.redis_url, self.queue = redis_url, queue
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "OPENAI_BASE_URL": model_url,
            "OPENAI_API_KEY": "test-key",
            "RQ_QUEUE": queue,
            "PYTHONUNBUFFERED": "1",
            **{key: str(value) for key, value in settings.items()},
        }
        self.name = f"test-worker-{uuid.uuid4().hex[:8]}"
        self.process = subprocess.Popen(
            [
                RQ,
                "worker",
                "--worker-class",
                worker_class or WORKER_CLASS,
                "--url",
                redis_url,
                "--name",
                self.name,
                queue,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        # Read its output as it comes: a full pipe would block the worker's next log line.
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read_output, name=f"{self.name}-output", daemon=True)
        self.reader.start()

    def _read_output(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 30.0) -> WorkerProcess:
        connection = redis_lib.Redis.from_url(self.redis_url)

        def registered() -> bool:
            if self.process.poll() is not None:
                self.reader.join(5)
                raise RuntimeError(f"worker exited early:\n{self.output}")
            return any(w.name == self.name for w in Worker.all(connection=connection))

        eventually(registered, timeout=timeout, interval=0.1, what=f"worker {self.name} to register")
        return self

    def signal(self, sig: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> str:
        """Warm shutdown (SIGTERM), then SIGKILL if it lingers; returns its output."""
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(5)
        return self.output


def cold_model_cache(redis_url: str) -> None:
    """Each test starts with an empty model cache (workers share Redis across tests)."""
    connection = redis_lib.Redis.from_url(redis_url)
    for key in connection.scan_iter("modelcache:*"):
        connection.delete(key)


# Fast recovery settings for tests: a silent worker is declared lost after 3 s.
FAST_RECOVERY = {"HEARTBEAT_INTERVAL": 0.5, "WORKER_LOST_AFTER": 3, "REAPER_INTERVAL": 0.5}


class Workers:
    """Long-lived workers, one per database, started on first use and stopped at the
    end; ``settings`` go to each worker's app."""

    def __init__(self, model_server, name: str, **settings) -> None:
        self.model_server, self.name, self.settings = model_server, name, settings
        self.started: dict[str, WorkerProcess] = {}

    def __call__(self, database_url: str, redis_url: str) -> WorkerProcess:
        if database_url not in self.started:
            queue = f"{self.name}-{uuid.uuid4().hex[:8]}"
            self.started[database_url] = WorkerProcess(
                database_url, redis_url, self.model_server.base_url, queue, **FAST_RECOVERY, **self.settings
            ).wait_ready()
        return self.started[database_url]

    def stop(self) -> None:
        for worker in self.started.values():
            worker.stop()


@pytest.fixture(scope="session")
def shared_workers(model_server):
    """One long-lived worker per database, for tests that only need the queue to work."""
    workers = Workers(model_server, "shared")
    yield workers
    workers.stop()


@pytest.fixture(params=["local", "queue"])
def execution_mode(request) -> str:
    return request.param


@pytest.fixture
def mode_app(execution_mode, database_url, model, request):
    """The app in local mode (thread pool) or queue mode (a real RQ worker process)."""
    if execution_mode == "local":
        app = make_app(database_url, model.base_url)
    else:
        redis_url = request.getfixturevalue("redis_url")
        worker = request.getfixturevalue("shared_workers")(database_url, redis_url)
        cold_model_cache(redis_url)
        app = make_app(database_url, model.base_url, REDIS_URL=redis_url, RQ_QUEUE=worker.queue)
    yield app
    close_app(app)
