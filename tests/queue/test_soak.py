"""The fault soak (issue 7): 300 executions on PostgreSQL across two RQ workers while
one worker is SIGKILLed and restarted every few seconds and Redis restarts once.
Every execution must end terminal, none may run twice, no node row may stay running."""

from __future__ import annotations

import collections
import signal
import time

import pytest
from sqlalchemy import func, select

from tests.conftest import FAST_RECOVERY, WorkerProcess, close_app, make_app
from tests.definitions import model_definition
from tests.queue.test_recovery import api_for, create, start
from tests.waiting import eventually
from webapp.extensions import db
from webapp.models import Execution, NodeRun
from webapp.runs.recovery import reaper

EXECUTIONS = 300
KILL_EVERY = 3.0
CONCURRENCY = 4


@pytest.mark.slow
def test_fault_soak(postgres_url, private_redis, model):
    queue = "soak"
    # Recovery, not fair share, is under test here: one user may run as many as the workers
    # take. Each worker runs WORKER_CONCURRENCY at once, and a kill loses what its victim held.
    settings = {
        **FAST_RECOVERY,
        "REAPER_ENABLED": True,
        "MAX_RUNNING_PER_USER": 0,
        "WORKER_CONCURRENCY": CONCURRENCY,
    }
    app = make_app(postgres_url, model.base_url, REDIS_URL=private_redis.url, RQ_QUEUE=queue, **settings)
    steady = WorkerProcess(postgres_url, private_redis.url, model.base_url, queue, **settings).wait_ready()
    victim = WorkerProcess(postgres_url, private_redis.url, model.base_url, queue, **settings).wait_ready()
    try:
        reaper(app).ensure_running()
        api = api_for(app)
        workflow_id = create(api, model_definition("{{ in.text }} [[latency=0.5]]"))
        ids = [start(api, workflow_id, f"soak {i}") for i in range(EXECUTIONS)]
        deadline, kills, redis_restarted = time.monotonic() + 300, 0, False
        while time.monotonic() < deadline:
            time.sleep(KILL_EVERY)
            victim.signal(signal.SIGKILL)
            victim.process.wait()
            kills += 1
            if kills == 3 and not redis_restarted:
                private_redis.restart(down_for=0.5)
                redis_restarted = True
            victim = WorkerProcess(postgres_url, private_redis.url, model.base_url, queue, **settings)
            if _active(app) == 0:
                break
        victim.wait_ready()
        eventually(lambda: _active(app) == 0, timeout=120, interval=0.5, what="no execution left active after the soak")

        with app.app_context():
            statuses = collections.Counter(db.session.scalars(select(Execution.status).where(Execution.id.in_(ids))))
            stuck_nodes = db.session.scalar(
                select(func.count()).select_from(NodeRun).where(NodeRun.status.in_(("running", "pending")))
            )
            errors = collections.Counter(
                db.session.scalars(select(Execution.error["code"].as_string()).where(Execution.status == "failed"))
            )
        calls = collections.Counter(call["prompt"] for call in model.calls)
        print(
            f"\nsoak: {dict(statuses)}, {kills} worker kills, Redis restarted: {redis_restarted}, "
            f"{len(calls)} model calls"
        )
        assert sum(statuses.values()) == EXECUTIONS
        assert set(statuses) <= {"completed", "failed"}, "every execution ended terminal"
        assert statuses["completed"] >= EXECUTIONS * 0.8, "most runs completed despite the faults"
        assert statuses["failed"] <= kills * CONCURRENCY, "a kill loses at most the runs its victim held"
        assert set(errors) <= {"worker_lost"}, "runs fail only by their worker's death"
        assert max(calls.values()) == 1, "no execution ran its model call twice"
        assert stuck_nodes == 0, "no node row stays running or pending"
        assert kills >= 3 and redis_restarted
    finally:
        victim.stop(timeout=5)
        steady.stop(timeout=5)
        close_app(app)


def _active(app) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(Execution).where(Execution.status.in_(("queued", "running")))
        )
        db.session.commit()
        return count
