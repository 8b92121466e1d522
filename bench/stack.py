"""Starting and stopping what a scenario measures: the loopback model server, fresh
databases, gunicorn in local or queue mode, and rq workers.

Everything runs as child processes of the suite, each started in its own session
so it can be stopped by its own id; logs go to files under the run's temporary
directory (a pipe nobody reads would stall a chatty worker).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The checkout whose app is measured (gunicorn, rq and migrations run there): this one unless
# BENCH_APP_ROOT names another, e.g. a patched copy to compare against.
APP_ROOT = Path(os.environ.get("BENCH_APP_ROOT") or ROOT)
BIN = Path(sys.executable).parent


def bin_for(app_root: Path) -> Path:
    """A checkout's own virtualenv when it has one (so an A/B can compare dependencies
    too), else this interpreter's."""
    own = app_root / ".venv" / "bin"
    return own if (own / "gunicorn").exists() else BIN


POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
WORKER_CLASS = "webapp.runs.worker.AppWorker"
EMAIL, PASSWORD = "bench@example.com", "bench password 123"


@dataclass(frozen=True)
class GunicornConfig:
    """Chosen for a 2-core machine by the ``gunicorn`` scenario (see docs/benchmarks.md)."""

    workers: int = 2
    threads: int = 8

    def label(self) -> str:
        return f"{self.workers} × gthread({self.threads})"

    @classmethod
    def parse(cls, text: str) -> GunicornConfig:
        """``WORKERS:THREADS`` (the default threads when left out), as the bench's options take it."""
        workers, _, threads = text.partition(":")
        return cls(int(workers), int(threads)) if threads else cls(int(workers))


DEFAULT_GUNICORN = GunicornConfig()
# In queue mode the web process only accepts and answers: one worker is enough, and a
# second one would cost ~100 MB of RSS for nothing (see the memory figures).
QUEUE_GUNICORN = GunicornConfig(workers=1)


def gunicorn_for(mode: str) -> GunicornConfig:
    return QUEUE_GUNICORN if mode == "queue" else DEFAULT_GUNICORN


_workdir: Path | None = None


def workdir() -> Path:
    """One temporary directory per suite run: SQLite files, logs, scripts."""
    global _workdir
    if _workdir is None:
        _workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    return _workdir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout:g} s")


class Child:
    """A child process in its own process group (stopped as one), logging to a file.

    Not in a session of its own: with Linux's autogroup (on by default) the scheduler
    shares the CPU equally between sessions, so the web process and each rq worker, in
    sessions of their own, were scheduled as rival groups: no deployment does that on
    purpose (one supervisor starts them all), and it doubled the async p99 here."""

    def __init__(self, name: str, argv: list[str], env: dict | None = None, cwd: Path = APP_ROOT) -> None:
        self.name = name
        self.log_path = workdir() / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            process_group=0,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # the group we started, by its id
                self.process.wait()
        self.log.close()

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        return ""


# -- the model server ------------------------------------------------------------------------


class ModelServerProcess(Child):
    def __init__(self, latency: float = 0.0) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "tests.model_server", "--port", str(self.port), "--latency", str(latency)]
        super().__init__("model-server", argv, cwd=ROOT)
        wait_for_port(self.port, self.process)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


# -- databases ---------------------------------------------------------------------------------


class Database:
    """A fresh database, migrated with ``flask --app wsgi db upgrade``; dropped by ``drop``."""

    def __init__(self, kind: str, tag: str) -> None:
        self.kind = kind
        self.name = f"bench_{tag}_{uuid.uuid4().hex[:8]}"
        if kind == "sqlite":
            self.path = workdir() / f"{self.name}.db"
            self.url = f"sqlite:///{self.path}"
        elif kind == "postgres":
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f'CREATE DATABASE "{self.name}"')
            base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
            self.psycopg_url = f"{base}/{self.name}"
            self.url = self.psycopg_url.replace("postgresql://", "postgresql+psycopg://", 1)
        else:
            raise ValueError(kind)
        self._engine = None

    def migrate(self, app_root: Path = APP_ROOT) -> None:
        result = subprocess.run(
            [str(bin_for(app_root) / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=app_root,
            env={**os.environ, "DATABASE_URL": self.url},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"db upgrade failed:\n{result.stdout}\n{result.stderr}")

    @property
    def engine(self):
        """A SQLAlchemy engine for the suite's own reads (counting finished executions)."""
        if self._engine is None:
            from sqlalchemy import create_engine

            self._engine = create_engine(self.url)
        return self._engine

    def drop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{self.path}{suffix}").unlink()
            return
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def create_account(database_url: str) -> str:
    """A user and an API key, made in-process through the app's own services."""
    import logging

    from webapp import create_app
    from webapp.auth import accounts
    from webapp.config import Config
    from webapp.extensions import db

    config = Config()
    config.SQLALCHEMY_DATABASE_URI = database_url
    config.REDIS_URL = None
    app = create_app(config)
    logging.getLogger().setLevel(logging.WARNING)  # create_app turns INFO on for the servers
    with app.app_context():
        user = accounts.create_user(EMAIL, PASSWORD)
        key = accounts.issue_api_key(user, "bench")
        db.session.remove()
        db.engine.dispose()
    return key


# -- the API ---------------------------------------------------------------------------------------


class Api:
    """A small keep-alive JSON client for set-up calls and sequential measurements."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.conn.request(method, f"/api/v1{path}", body=payload, headers=all_headers)
                response = self.conn.getresponse()
                raw = response.read()
                break
            except (ConnectionError, http.client.HTTPException):  # a closed keep-alive: once more
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        return response.status, (json.loads(raw) if raw else None)

    def create_workflow(self, name: str, definition: dict) -> str:
        status, body = self.call("POST", "/workflows", {"name": name, **definition})
        if status != 201:
            raise RuntimeError(f"creating a workflow answered {status}: {body}")
        return body["id"]


# -- the app -------------------------------------------------------------------------------------


def app_env(database: Database, model_url: str, queue: str | None = None, **settings) -> dict:
    env = {
        "APP_ENV": "production",
        "SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "DATABASE_URL": database.url,
        "OPENAI_BASE_URL": model_url,
        "OPENAI_API_KEY": "bench-key",
        "RATELIMIT_ENABLED": "false",
        # One bench user stands for many: the platform's capacity is measured, not one user's share.
        "MAX_RUNNING_PER_USER": "0",
        "REDIS_URL": REDIS_URL if queue else "",
        "RQ_QUEUE": queue or "executions",
    }
    env.update({key: str(value) for key, value in settings.items()})
    return env


class Gunicorn(Child):
    def __init__(self, env: dict, config: GunicornConfig = DEFAULT_GUNICORN, app_root: Path = APP_ROOT) -> None:
        self.port = free_port()
        self.config = config
        argv = [
            str(bin_for(app_root) / "gunicorn"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(config.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(config.threads),
            "--backlog",
            "2048",
            "wsgi:app",
        ]
        super().__init__("gunicorn", argv, env, app_root)
        wait_for_port(self.port, self.process)
        self._wait_for_workers()

    def _wait_for_workers(self, timeout: float = 30.0) -> None:
        """Every worker booted (answers), not just the master listening."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            from .machine import descendants

            if len(descendants(self.pid)) - 1 >= self.config.workers:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                with contextlib.suppress(OSError, http.client.HTTPException):
                    conn.request("GET", "/api/v1/openapi.json")
                    if conn.getresponse().status == 200:
                        return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer in time:\n{self.tail()}")


class RqWorker(Child):
    def __init__(self, env: dict, queue: str, worker_class: str = WORKER_CLASS, app_root: Path = APP_ROOT) -> None:
        self.worker_name = f"bench-{uuid.uuid4().hex[:8]}"
        argv = [
            str(bin_for(app_root) / "rq"),
            "worker",
            "--worker-class",
            worker_class,
            "--url",
            REDIS_URL,
            "--name",
            self.worker_name,
            queue,
        ]
        super().__init__("rq-worker", argv, env, app_root)

    def wait_ready(self, timeout: float = 30.0) -> RqWorker:
        import redis
        from rq import Worker

        connection = redis.Redis.from_url(REDIS_URL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"rq worker exited early:\n{self.tail()}")
            if any(w.name == self.worker_name for w in Worker.all(connection=connection)):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"rq worker did not register in time:\n{self.tail()}")


@dataclass
class Stack:
    """A database, the app under gunicorn, and (queue mode) ``workers`` rq workers."""

    db_kind: str
    model_url: str
    mode: str = "local"  # or "queue"
    workers: int = 0
    gunicorn: GunicornConfig | None = None  # None: the set-up chosen for the mode
    settings: dict = field(default_factory=dict)
    app_root: Path = APP_ROOT

    def __enter__(self) -> Stack:
        self.children: list[Child] = []
        self.queue = f"bench-{uuid.uuid4().hex[:8]}" if self.mode == "queue" else None
        self.database = Database(self.db_kind, f"{self.mode}{self.workers or ''}")
        try:
            self.database.migrate(self.app_root)
            self.key = create_account(self.database.url)
            self.env = app_env(self.database, self.model_url, self.queue, **self.settings)
            self.gunicorn = self.gunicorn or gunicorn_for(self.mode)
            self.web = Gunicorn(self.env, self.gunicorn, self.app_root)
            self.children.append(self.web)
            count = self.workers if self.queue else 0
            self.rq_workers = [RqWorker(self.env, self.queue, app_root=self.app_root) for _ in range(count)]
            self.children += self.rq_workers
            for worker in self.rq_workers:
                worker.wait_ready()
            self.api = Api(self.web.port, self.key)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for child in reversed(getattr(self, "children", [])):
            child.stop()
        if self.queue:
            flush_redis()
        self.database.drop()

    @property
    def port(self) -> int:
        return self.web.port

    def label(self) -> str:
        db = "SQLite" if self.db_kind == "sqlite" else "PostgreSQL"
        where = "local" if self.mode == "local" else f"queue, {self.workers} worker{'s' if self.workers > 1 else ''}"
        return f"{db}, {where}"

    def server_pids(self) -> list[int]:
        """The web processes and the workers: what "the running system" is."""
        return [self.web.pid] + [w.pid for w in self.rq_workers]


def flush_redis() -> None:
    """Empty the suite's own Redis database (``BENCH_REDIS_URL``, index 12 by default):
    jobs, registries and cached model answers of one scenario are not for the next."""
    import redis

    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(REDIS_URL).flushdb()
