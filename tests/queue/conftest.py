"""Fixtures for tests that start, kill and restart real RQ workers (and Redis)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis as redis_lib

from tests.conftest import FAST_RECOVERY, WorkerProcess, close_app, cold_model_cache, make_app, require
from tests.waiting import eventually


class PrivateRedis:
    """A redis-server of this test's own, so restarting it disturbs nobody else."""

    def __init__(self, tmp_path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.dir = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, appendonly: bool = False) -> PrivateRedis:
        """``appendonly``: persist every write (AOF), so a restart brings the data back."""
        persistence = ("--appendonly", "yes", "--appendfsync", "always") if appendonly else ("--appendonly", "no")
        where = ("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir))
        self.process = subprocess.Popen(
            ["redis-server", *where, "--save", "", *persistence],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis_lib.Redis(port=self.port)

        def answers() -> bool:
            try:
                return client.ping()
            except redis_lib.ConnectionError:
                return False

        eventually(answers, timeout=5, what="the private redis-server to start")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def restart(self, down_for: float = 1.0, appendonly: bool = False) -> None:
        """Like a crash and restart: without persistence, everything in it is lost."""
        self.stop()
        time.sleep(down_for)
        self.start(appendonly)


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own (``initdb`` + ``pg_ctl`` as the
    ``postgres`` user, on a free port), to stop and start under running work."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        self.dir = Path(tempfile.mkdtemp(prefix="pg-"))  # not under pytest's tmp_path: postgres cannot enter that
        shutil.chown(self.dir, "postgres")
        self.data, self.log = self.dir / "data", self.dir / "log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/app"

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=60)

    def create(self) -> PrivatePostgres:
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres")
        self.start()
        self._as_postgres(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "app")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}"
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        """A fast shutdown: every session is cut off at once, as in a crash or failover."""
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres():
    available = shutil.which("runuser") is not None and any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    require("PostgreSQL's initdb", available, "initdb (or runuser) is not installed")
    server = PrivatePostgres()
    try:
        yield server.create()
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture
def private_redis(tmp_path):
    require("redis-server", shutil.which("redis-server") is not None, "the redis-server binary is not installed")
    server = PrivateRedis(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def queue_env(database_url, model, redis_url):
    """Start workers and the app against one database, one Redis, one queue."""
    started, apps = [], []
    cold_model_cache(redis_url)

    class Env:
        def __init__(self) -> None:
            self.redis_url = redis_url
            self.queue = f"q-{id(self)}-{time.monotonic_ns()}"

        def worker(self, worker_class: str | None = None, **settings) -> WorkerProcess:
            process = WorkerProcess(
                database_url,
                self.redis_url,
                model.base_url,
                self.queue,
                **{**FAST_RECOVERY, **settings},
                worker_class=worker_class,
            )
            started.append(process)
            return process.wait_ready()

        def app(self, **overrides):
            app = make_app(
                database_url,
                model.base_url,
                REDIS_URL=self.redis_url,
                RQ_QUEUE=self.queue,
                **{**FAST_RECOVERY, **overrides},
            )
            apps.append(app)
            return app

    yield Env()
    for process in started:
        process.stop(timeout=5)
    for app in apps:
        close_app(app)
