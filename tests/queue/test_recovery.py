"""Nothing lost, nothing stuck: real RQ worker processes, started, killed and restarted.

Recovery settings are shortened for tests (tests/conftest.py FAST_RECOVERY): a worker
silent for 3 s is lost, and the reaper looks every 0.5 s.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import urllib.request

import redis as redis_lib
from rq import Queue, Worker
from sqlalchemy import select

from tests.conftest import FAST_RECOVERY, Api, WorkerProcess, make_app, make_user
from tests.definitions import model_definition, workflow_body
from tests.waiting import eventually, finished
from tests.web_server import Gunicorn
from webapp.extensions import db
from webapp.models import Execution, NodeRun
from webapp.runs.recovery import reaper

LOST_BOUND = FAST_RECOVERY["WORKER_LOST_AFTER"] + FAST_RECOVERY["REAPER_INTERVAL"] + 2.0  # + slack for a busy CI


def api_for(app, email="alice@example.com") -> Api:
    user, key = make_user(app, email)
    return Api(app.test_client(), user, key)


def create(api, definition) -> str:
    response = api.post("/workflows", json=workflow_body(definition=definition))
    assert response.status_code == 201, response.json
    return response.json["id"]


def start(api, workflow_id, text) -> str:
    response = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": text}, "async": True})
    assert response.status_code == 202, response.json
    return response.json["execution_id"]


def execution(api, execution_id) -> dict:
    return api.get(f"/executions/{execution_id}").json


def node_status(api, execution_id, node_id) -> str:
    return next(n["status"] for n in execution(api, execution_id)["nodes"] if n["node_id"] == node_id)


def registered_workers(redis) -> set[str]:
    """The workers ``rq info`` lists."""
    return {w.name for w in Worker.all(connection=redis)}


def no_node_left_running(app) -> bool:
    with app.app_context():
        return db.session.scalar(select(NodeRun).where(NodeRun.status.in_(("running", "pending")))) is None


def test_two_workers_drain_50_executions_and_none_runs_twice(queue_env, model):
    app = queue_env.app()
    api = api_for(app)
    workflow_id = create(api, model_definition("{{ in.text }} [[latency=0.05]]"))
    queue_env.worker()
    queue_env.worker()
    ids = [start(api, workflow_id, f"job {i}") for i in range(50)]
    bodies = [finished(api, execution_id, timeout=60) for execution_id in ids]
    assert [b for b in bodies if b["status"] != "completed"] == []
    assert model.call_count == 50, "each execution called the model exactly once"
    prompts = sorted(call["prompt"] for call in model.calls)
    assert len(set(prompts)) == 50
    assert api.get(f"/workflows/{workflow_id}").json["usage_count"] == 50
    with app.app_context():
        runners = set(db.session.scalars(select(Execution.runner)))
    assert len(runners) == 2, "both workers took a share"
    assert no_node_left_running(app)


def test_a_sigkilled_worker_is_settled_as_worker_lost_with_no_worker_left(queue_env, model):
    app = queue_env.app(REAPER_ENABLED=True)
    reaper(app).ensure_running()  # the web process's reaper: no other worker is listening
    api = api_for(app)
    workflow_id = create(api, model_definition("[[latency=60]] {{ in.text }}"))
    worker = queue_env.worker()
    execution_id = start(api, workflow_id, "doomed")
    eventually(lambda: node_status(api, execution_id, "gen") == "running", timeout=15, what="the model node to start")
    killed_at = time.monotonic()
    worker.signal(signal.SIGKILL)
    body = finished(api, execution_id, timeout=LOST_BOUND + 5)
    assert time.monotonic() - killed_at <= LOST_BOUND
    assert body["status"] == "failed" and body["error"]["code"] == "worker_lost"
    nodes = {n["node_id"]: n for n in body["nodes"]}
    assert nodes["in"]["status"] == "completed"
    assert nodes["gen"]["status"] == "failed" and nodes["gen"]["error"]["code"] == "worker_lost"
    assert nodes["out"]["status"] == "cancelled"
    assert no_node_left_running(app)


def test_a_reaper_paused_past_worker_lost_after_settles_no_run_of_a_live_worker(queue_env, database_url, model):
    """A machine-wide freeze: every process stopped (SIGSTOP) for longer than
    WORKER_LOST_AFTER, and the reaper's process woken first. The gap in its own clock
    says the silence may be its own, so it looks again later: by then the workers,
    woken too, have beaten."""
    app = queue_env.app()
    api = api_for(app)
    workflow_id = create(api, model_definition("[[latency=6]] {{ in.text }}"))
    worker = queue_env.worker()
    # A reaper in a process of its own (a worker of an empty queue) judging the runs' lane.
    reaper_host = WorkerProcess(
        database_url,
        queue_env.redis_url,
        model.base_url,
        f"{queue_env.queue}-idle",
        **FAST_RECOVERY,
        RQ_QUEUE=queue_env.queue,
    ).wait_ready()
    try:
        ids = [start(api, workflow_id, f"frozen {i}") for i in range(3)]
        eventually(lambda: [node_status(api, e, "gen") for e in ids] == ["running"] * 3, timeout=15, what="3 runs")
        for process in (worker, reaper_host):
            process.signal(signal.SIGSTOP)
        time.sleep(FAST_RECOVERY["WORKER_LOST_AFTER"] + 2)
        reaper_host.signal(signal.SIGCONT)
        # Its first pass, seen in its log; without that line, three of its intervals (time
        # enough, before the fix, to settle the runs as worker_lost).
        noticed = time.monotonic() + 1.5
        while "paused?" not in reaper_host.output and time.monotonic() < noticed:
            time.sleep(0.05)
        worker.signal(signal.SIGCONT)
        bodies = [finished(api, e, timeout=30) for e in ids]
        assert [(b["status"], b["error"]) for b in bodies] == [("completed", None)] * 3
        assert model.call_count == 3
    finally:
        reaper_host.signal(signal.SIGCONT)
        worker.signal(signal.SIGCONT)
        reaper_host.stop()


def test_warm_shutdown_finishes_the_node_and_another_worker_resumes(queue_env, model):
    app = queue_env.app()
    api = api_for(app)
    definition = model_definition("[[latency=1.5]] first {{ in.text }}")
    definition["nodes"].insert(
        2, {"id": "second", "type": "ai_model", "config": {"prompt": "[[latency=0.2]] second {{ gen.text }}"}}
    )
    definition["connections"] = [
        {"from": "in", "to": "gen"},
        {"from": "gen", "to": "second"},
        {"from": "second", "to": "out"},
    ]
    workflow_id = create(api, definition)
    first = queue_env.worker()
    execution_id = start(api, workflow_id, "shutdown")
    eventually(lambda: node_status(api, execution_id, "gen") == "running", timeout=15, what="the first node to start")
    first.signal(signal.SIGTERM)
    first.process.wait(15)
    body = execution(api, execution_id)
    assert body["status"] == "queued", "handed back to the queue, not lost"
    nodes = {n["node_id"]: n["status"] for n in body["nodes"]}
    assert nodes["gen"] == "completed", "the node in flight finished and was recorded"
    assert nodes["second"] == "pending"
    queue_env.worker()
    body = finished(api, execution_id)
    assert body["status"] == "completed"
    assert [c["prompt"].split()[1] for c in model.calls] == ["first", "second"], "the first node ran once"


def test_warm_shutdown_while_the_loop_holds_a_job_lets_the_job_end_first(queue_env, model):
    """Stopped between taking a job and performing it, the worker performs it (its run is
    then handed back as any run in flight is): the job does not stay half-taken in Redis."""
    app = queue_env.app()
    api = api_for(app)
    workflow_id = create(api, model_definition("[[latency=0.5]] {{ in.text }}"))
    first = queue_env.worker("tests.queue.workers.SlowToStartWorker")
    execution_id = start(api, workflow_id, "held")
    connection = redis_lib.Redis.from_url(queue_env.redis_url)
    eventually(lambda: connection.exists(f"holding:{queue_env.queue}"), timeout=15, what="the worker to take the job")
    first.signal(signal.SIGTERM)
    first.process.wait(15)
    taken = Queue(queue_env.queue, connection=connection).intermediate_queue_key
    assert connection.llen(taken) == 0, "the job ended before the worker stopped"
    queue_env.worker()
    assert finished(api, execution_id)["status"] == "completed"
    assert len(model.calls) == 1


def test_a_job_the_reaper_looked_at_during_its_hand_over_leaves_no_mark_behind(queue_env, model):
    """The reaper marks a job it finds in rq's intermediate list (rq's first-seen key, kept
    a day); the worker deletes that mark with the job."""
    from rq.intermediate_queue import IntermediateQueue

    from webapp.runs.dispatch import dispatcher

    app = queue_env.app()
    api = api_for(app)
    workflow_id = create(api, model_definition("{{ in.text }}"))
    queue_env.worker("tests.queue.workers.SlowToStartWorker")
    execution_id = start(api, workflow_id, "looked at")
    redis = redis_lib.Redis.from_url(queue_env.redis_url)
    eventually(lambda: redis.exists(f"holding:{queue_env.queue}"), timeout=15, what="the worker to take the job")
    with app.app_context():
        job_id = db.session.scalar(select(Execution.job_id).where(Execution.id == execution_id))
        assert dispatcher(app).job_is_live(job_id, 60), "taken a moment ago: alive"
    mark = IntermediateQueue(Queue(queue_env.queue, connection=redis).key, redis).get_first_seen_key(job_id)
    assert redis.exists(mark), "what the reaper leaves as it looks"
    assert finished(api, execution_id)["status"] == "completed"
    assert not redis.exists(mark)


def test_redis_restart_loses_queued_jobs_but_not_executions(private_redis, database_url, model):
    from tests.conftest import WorkerProcess, close_app

    queue = "restart"
    app = make_app(
        database_url, model.base_url, REDIS_URL=private_redis.url, RQ_QUEUE=queue, **FAST_RECOVERY, REAPER_ENABLED=True
    )
    worker = WorkerProcess(database_url, private_redis.url, model.base_url, queue, **FAST_RECOVERY).wait_ready()
    try:
        reaper(app).ensure_running()
        api = api_for(app)
        workflow_id = create(api, model_definition("[[latency=0.6]] {{ in.text }}"))
        ids = [start(api, workflow_id, f"r{i}") for i in range(6)]
        eventually(lambda: node_status(api, ids[0], "gen") == "running", timeout=15, what="the first run to start")
        private_redis.restart()
        bodies = [finished(api, execution_id, timeout=60) for execution_id in ids]
        assert [b["status"] for b in bodies] == ["completed"] * 6
        assert sorted(c["prompt"] for c in model.calls) == sorted(f"[[latency=0.6]] r{i}" for i in range(6))
        assert worker.process.poll() is None, "the worker waited for Redis instead of exiting"
        redis = redis_lib.Redis(port=private_redis.port)
        assert worker.name in registered_workers(redis), "registered again: visible to rq info"
    finally:
        worker.stop()
        close_app(app)


def test_a_web_process_killed_during_a_sync_run_leaves_no_execution_running(sqlite_url, model):
    """Local mode: the execution ran in the web process's own pool and died with it."""
    app = make_app(sqlite_url, model.base_url, **FAST_RECOVERY)
    api = api_for(app)
    workflow_id = create(api, model_definition("[[latency=60]] {{ in.text }}"))
    web = Gunicorn(sqlite_url, model.base_url, **FAST_RECOVERY).start()
    try:
        request = urllib.request.Request(
            f"{web.url}/api/v1/workflows/{workflow_id}/execute",
            method="POST",
            data=b'{"inputs": {"text": "sync"}}',
            headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
        )
        threading.Thread(target=_ignore_errors, args=(request,), daemon=True).start()
        execution_id = eventually(lambda: _running_execution(app), timeout=15, what="the sync run to start")
        web.kill()
        killed_at = time.monotonic()
    finally:
        web.kill()
    app.config["REAPER_ENABLED"] = True
    reaper(app).ensure_running()  # the restarted web process
    body = finished(api, execution_id, timeout=LOST_BOUND + 5)
    assert time.monotonic() - killed_at <= LOST_BOUND
    assert body["status"] == "failed" and body["error"]["code"] == "worker_lost"
    assert no_node_left_running(app)


def _ignore_errors(request) -> None:
    with contextlib.suppress(OSError):  # the server is killed under it, as intended
        urllib.request.urlopen(request, timeout=120)


def _running_execution(app) -> str | None:
    with app.app_context():
        return db.session.scalar(select(Execution.id).where(Execution.status == "running"))


def test_a_job_taken_by_a_worker_that_died_before_starting_it_is_requeued(queue_env, model):
    """RQ moves a job it dequeues to an intermediate list before marking it started;
    a worker killed between the two leaves the job there, still 'queued'."""
    from redis import Redis
    from rq import Queue
    from rq.intermediate_queue import IntermediateQueue

    from webapp.runs.recovery import reap

    app = queue_env.app()
    api = api_for(app)
    execution_id = start(api, create(api, model_definition()), "handed over")
    redis = Redis.from_url(queue_env.redis_url)
    queue = Queue(queue_env.queue, connection=redis)
    intermediate = IntermediateQueue.get_intermediate_queue_key(queue.key)
    assert redis.lmove(queue.key, intermediate, "LEFT", "RIGHT") is not None, "what a dequeuing worker does"

    # Past the enqueue grace and WORKER_LOST_AFTER from the first look, the reaper requeues it.
    eventually(lambda: reap(app)["requeued"], timeout=LOST_BOUND + 10, what="a requeue")
    assert execution(api, execution_id)["status"] == "queued"
    assert queue.count == 1, "a fresh job waits in the queue"
    queue_env.worker()
    body = finished(api, execution_id)
    assert body["status"] == "completed"
    assert model.call_count == 1


def test_a_finished_job_leaves_nothing_of_itself_in_redis(queue_env, model):
    """The worker deletes our finished jobs in one MULTI of its own (worker.py): nothing
    per job may stay behind (a slow leak in a server that runs for months)."""
    from rq import Queue

    unbounded = {"MAX_RUNNING_PER_USER": 0}  # one job per run: none held back and woken under a new job
    app = queue_env.app(**unbounded)
    api = api_for(app)
    workflow_id = create(api, model_definition("{{ in.text }}"))
    worker = queue_env.worker(**unbounded)
    ids = [start(api, workflow_id, f"job {i}") for i in range(5)]
    assert [finished(api, execution_id)["status"] for execution_id in ids] == ["completed"] * 5
    with app.app_context():
        job_ids = list(db.session.scalars(select(Execution.job_id).where(Execution.id.in_(ids))))
    redis = redis_lib.Redis.from_url(queue_env.redis_url, decode_responses=True)
    assert [key for job_id in job_ids for key in redis.scan_iter(f"rq:*{job_id}*")] == []
    held = redis.smembers(f"rq:worker:{worker.name}:executions")
    assert not [member for member in held if member.split(":")[0] in job_ids]
    queue = Queue(queue_env.queue, connection=redis_lib.Redis.from_url(queue_env.redis_url))
    assert queue.started_job_registry.get_job_ids() == [] and queue.finished_job_registry.get_job_ids() == []
    (registered,) = [w for w in Worker.all(queue=queue) if w.name == worker.name]
    assert registered.successful_job_count == 5  # the worker's own counts are kept
