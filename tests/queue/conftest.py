"""Fixtures for tests that start, kill and restart real RQ workers (and Redis)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
import redis as redis_lib

from tests.conftest import FAST_RECOVERY, WorkerProcess, close_app, cold_model_cache, make_app, require


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

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis_lib.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return self
            except redis_lib.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def restart(self, down_for: float = 1.0) -> None:
        """Like a crash and restart without persistence: everything in it is lost."""
        self.stop()
        time.sleep(down_for)
        self.start()


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
