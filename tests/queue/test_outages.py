"""Outages of the services runs depend on, injected into real processes: PostgreSQL
stopped under runs in flight, Redis filled to its memory limit or restarted from its
append-only file, a queue that waited longer than a run may take, and a web server
killed and started again with no request to wake it.

Each test has services of its own (``private_postgres``, ``private_redis``) or its
own queue: the shared ones are never disturbed.
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import redis as redis_lib
from sqlalchemy import select

from tests.conftest import FAST_RECOVERY, Api, WorkerProcess, close_app, make_app
from tests.definitions import model_definition
from tests.queue.test_recovery import (
    LOST_BOUND,
    api_for,
    create,
    execution,
    no_node_left_running,
    node_status,
    registered_workers,
    start,
)
from tests.ui.conftest import Page
from tests.waiting import eventually, finished
from tests.web_server import Gunicorn
from webapp.extensions import db
from webapp.models import Execution
from webapp.outages import PING_AFTER_IDLE
from webapp.runs.recovery import reaper

RECOVERED_WITHIN = 15.0  # seconds from the service's return to runs completing again
LONG_OUTAGE = 45.0  # seconds: long enough for rq's own reconnect wait to have doubled to 32 s


def test_a_postgresql_restart_under_runs_in_flight_loses_none_and_answers_503_meanwhile(
    private_postgres, redis_url, model
):
    queue = f"pg-outage-{time.monotonic_ns()}"
    settings = {**FAST_RECOVERY, "REDIS_URL": redis_url, "RQ_QUEUE": queue}
    app = make_app(private_postgres.url, model.base_url, **settings, REAPER_ENABLED=True)
    worker = WorkerProcess(private_postgres.url, redis_url, model.base_url, queue, **FAST_RECOVERY).wait_ready()
    try:
        reaper(app).ensure_running()  # the web process's reaper must not take the outage for lost workers
        api = api_for(app)
        page = Page(app, api.user).sign_in()
        workflow_id = create(api, model_definition("[[latency=3]] {{ in.text }}"))
        ids = [start(api, workflow_id, f"outage {i}") for i in range(4)]
        for execution_id in ids:
            eventually(
                lambda id=execution_id: node_status(api, id, "gen") == "running",
                timeout=15,
                what="the model calls to start",
            )

        private_postgres.stop()
        down_for = FAST_RECOVERY["WORKER_LOST_AFTER"] + 2  # longer than silence means a lost worker
        api_answer, page_answer = api.get(f"/executions/{ids[0]}"), page.get(f"/executions/{ids[0]}")
        time.sleep(down_for)
        private_postgres.start()

        assert api_answer.status_code == 503, api_answer.text
        assert api_answer.json["error"]["code"] == "service_unavailable"
        assert api_answer.json["error"]["retry_after"] == int(api_answer.headers["Retry-After"]) > 0
        assert page_answer.status_code == 503 and int(page_answer.headers["Retry-After"]) > 0
        assert "unavailable for a moment" in page_answer.text

        bodies = [finished(api, execution_id, timeout=RECOVERED_WITHIN + 30) for execution_id in ids]
        assert [b["status"] for b in bodies] == ["completed"] * 4, [b["error"] for b in bodies]
        assert model.call_count == 4, "each answered call was kept, not made again"
        assert no_node_left_running(app)
    finally:
        worker.stop()
        close_app(app)


def test_a_redis_at_its_memory_limit_then_freed_leaves_no_worker_stuck(private_redis, database_url, model):
    queue = "full"
    app = make_app(database_url, model.base_url, REDIS_URL=private_redis.url, RQ_QUEUE=queue, **FAST_RECOVERY)
    # One slot, taken by the first run: the worker keeps writing its heartbeat while it waits.
    worker = WorkerProcess(
        database_url, private_redis.url, model.base_url, queue, **FAST_RECOVERY, WORKER_CONCURRENCY=1
    ).wait_ready()
    redis = redis_lib.Redis(port=private_redis.port)
    try:
        api = api_for(app)
        workflow_id = create(api, model_definition("[[latency=2]] {{ in.text }}"))
        during = start(api, workflow_id, "while full")
        eventually(lambda: node_status(api, during, "gen") == "running", timeout=15, what="the run to start")
        redis.config_set("maxmemory-policy", "noeviction")
        redis.config_set("maxmemory", 1)  # every write is refused from now on
        eventually(lambda: "OutOfMemoryError" in worker.output, timeout=15, what="the worker to meet the full Redis")
        assert finished(api, during)["status"] == "completed", "the run itself needs only the database"
        time.sleep(2 * 2.0)  # a few of the worker's attempts to start again (RECONNECT_DELAY)
        redis.config_set("maxmemory", 0)
        freed_at = time.monotonic()

        after = [start(api, workflow_id, f"after {i}") for i in range(3)]
        assert [finished(api, e, timeout=RECOVERED_WITHIN)["status"] for e in after] == ["completed"] * 3
        assert time.monotonic() - freed_at < RECOVERED_WITHIN
        assert worker.name in registered_workers(redis), "visible to rq info again"
        assert "There exists an active worker" not in worker.output
    finally:
        worker.stop()
        close_app(app)


def test_a_redis_restarted_from_its_append_only_file_leaves_no_worker_stuck(private_redis, database_url, model):
    """The file brings back the worker's own registration: the worker must not take
    it for another worker of its name."""
    queue = "aof"
    private_redis.restart(down_for=0, appendonly=True)
    app = make_app(database_url, model.base_url, REDIS_URL=private_redis.url, RQ_QUEUE=queue, **FAST_RECOVERY)
    worker = WorkerProcess(database_url, private_redis.url, model.base_url, queue, **FAST_RECOVERY).wait_ready()
    try:
        api = api_for(app)
        workflow_id = create(api, model_definition("[[latency=0.5]] {{ in.text }}"))
        during = [start(api, workflow_id, f"during {i}") for i in range(3)]
        eventually(lambda: node_status(api, during[0], "gen") == "running", timeout=15, what="the first run to start")
        private_redis.restart(down_for=1.0, appendonly=True)
        back_at = time.monotonic()
        after = [start(api, workflow_id, f"after {i}") for i in range(3)]
        statuses = [finished(api, e, timeout=RECOVERED_WITHIN + 10)["status"] for e in during + after]
        assert statuses == ["completed"] * 6
        assert time.monotonic() - back_at < RECOVERED_WITHIN
        assert model.call_count == 6, "none ran twice"
        redis = redis_lib.Redis(port=private_redis.port)
        assert worker.name in registered_workers(redis), "visible to rq info"
        assert "There exists an active worker" not in worker.output
    finally:
        worker.stop()
        close_app(app)


@contextlib.contextmanager
def app_and_worker(private_redis, database_url: str, model, queue: str):
    """The app and one worker on the private Redis, stopped and closed afterwards."""
    app = make_app(database_url, model.base_url, REDIS_URL=private_redis.url, RQ_QUEUE=queue, **FAST_RECOVERY)
    worker = WorkerProcess(database_url, private_redis.url, model.base_url, queue, **FAST_RECOVERY).wait_ready()
    try:
        yield app, worker
    finally:
        worker.stop()
        close_app(app)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_worker_takes_jobs_within_seconds_after_a_long_redis_outage(private_redis, database_url, model):
    """rq's own reconnect wait doubles up to a minute; ours is capped at a few seconds."""
    with app_and_worker(private_redis, database_url, model, "long-outage") as (app, worker):
        api = api_for(app)
        workflow_id = create(api, model_definition("{{ in.text }}"))
        assert finished(api, start(api, workflow_id, "before"))["status"] == "completed"
        private_redis.stop()
        time.sleep(LONG_OUTAGE)
        private_redis.start()
        back_at = time.monotonic()
        after = [start(api, workflow_id, f"after {i}") for i in range(3)]
        assert [finished(api, e, timeout=RECOVERED_WITHIN)["status"] for e in after] == ["completed"] * 3
        assert time.monotonic() - back_at < RECOVERED_WITHIN
        assert worker.name in registered_workers(redis_lib.Redis(port=private_redis.port)), "visible to rq info"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_sync_execute_whose_redis_dies_while_it_waits_answers_with_the_finished_run(
    private_redis, database_url, model
):
    """The run needs only the database: the request waits for it there (up to
    SYNC_TIMEOUT) instead of answering 202 the moment its Redis wait breaks."""
    with app_and_worker(private_redis, database_url, model, "sync-outage") as (app, _worker):
        api = api_for(app)
        workflow_id = create(api, model_definition("[[latency=3]] {{ in.text }}"))
        answers = []
        waiting = Api(app.test_client(), api.user, api.key)
        body = {"inputs": {"text": "sync while Redis dies"}}
        request = threading.Thread(
            target=lambda: answers.append(waiting.post(f"/workflows/{workflow_id}/execute", json=body))
        )
        request.start()
        eventually(lambda: model.call_count == 1, timeout=15, what="the run's model call")
        private_redis.stop()
        request.join(app.config["SYNC_TIMEOUT"] + 10)
        (answer,) = answers
        assert answer.status_code == 200, answer.json
        assert answer.json["status"] == "completed"


def test_runs_that_waited_in_the_queue_past_the_execution_timeout_still_run(queue_env, model):
    """Waiting is not running: the timeout counts from a run's start."""
    timeout = 2.0
    app = queue_env.app(EXECUTION_TIMEOUT=timeout, REAPER_ENABLED=True)
    reaper(app).ensure_running()
    api = api_for(app)
    workflow_id = create(api, model_definition("[[latency=0.5]] {{ in.text }}"))
    ids = [start(api, workflow_id, f"patient {i}") for i in range(3)]
    time.sleep(timeout + FAST_RECOVERY["WORKER_LOST_AFTER"] + 2 * FAST_RECOVERY["REAPER_INTERVAL"])
    assert {execution(api, e)["status"] for e in ids} == {"queued"}, "the reaper left them waiting"
    queue_env.worker(EXECUTION_TIMEOUT=timeout)
    assert [finished(api, e)["status"] for e in ids] == ["completed"] * 3
    assert model.call_count == 3


def test_a_killed_web_server_started_again_with_no_traffic_settles_its_runs(sqlite_url, model):
    """Local mode: the runs died with the web process. The new one reaps from its own
    start (gunicorn.conf.py), not from its first request: none comes here."""
    app = make_app(sqlite_url, model.base_url)
    api = api_for(app)
    workflow_id = create(api, model_definition("[[latency=60]] {{ in.text }}"))
    server = Gunicorn(sqlite_url, model.base_url, **FAST_RECOVERY)
    try:
        server.start()
        ids = [server.execute_async(api.key, workflow_id, f"orphan {i}") for i in range(2)]
        eventually(lambda: all(_status(app, e) == "running" for e in ids), timeout=15, what="the runs to start")
        server.kill()
        server.start(serve_check=False)  # and no request at all from here on
        started_at = time.monotonic()
        eventually(
            lambda: all(_status(app, e) == "failed" for e in ids),
            timeout=LOST_BOUND + 15,
            what="the runs to be settled",
        )
        assert time.monotonic() - started_at <= LOST_BOUND + 10  # + the new server's start-up
        assert server.requests_served() == []
        with app.app_context():
            codes = {e.error["code"] for e in db.session.scalars(select(Execution).where(Execution.id.in_(ids)))}
        assert codes == {"worker_lost"}
        assert no_node_left_running(app)
    finally:
        server.kill()
        close_app(app)


def _status(app, execution_id: str) -> str:
    with app.app_context():
        return db.session.scalar(select(Execution.status).where(Execution.id == execution_id))


def test_a_postgresql_restarted_while_the_pool_rested_costs_no_request(private_postgres, model):
    """A pooled connection that rested past ``PING_AFTER_IDLE`` is checked before use
    (``outages.ping_when_idle``): the restart's dead connections never reach a request."""
    app = make_app(private_postgres.url, model.base_url)
    try:
        api = api_for(app)
        assert api.get("/workflows").status_code == 200  # the pool now holds a connection
        private_postgres.stop()
        private_postgres.start()
        time.sleep(PING_AFTER_IDLE + 0.2)
        answer = api.get("/workflows")
        assert answer.status_code == 200, answer.text
    finally:
        close_app(app)
