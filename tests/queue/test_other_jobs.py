"""The worker's Redis shortcuts: for its own hand-over jobs only (any other job on its
queue takes rq's own path, and keeps its result as rq promises), and saying in Redis what
rq's own path says."""

from __future__ import annotations

import json

import redis as redis_lib
from rq import Queue
from rq.job import JobStatus

from tests.definitions import model_definition
from tests.queue.test_recovery import api_for, create, finished, start, wait_for


def test_a_job_that_is_not_a_hand_over_runs_the_rq_way_and_keeps_its_result(
    shared_workers, database_url, redis_url, redis_client
):
    worker = shared_workers(database_url, redis_url)
    job = Queue(worker.queue, connection=redis_client).enqueue("operator.add", 2, 3, result_ttl=600)
    ended = (JobStatus.FINISHED, JobStatus.FAILED)
    assert wait_for(lambda: job.get_status(refresh=True) in ended, 20, "the job to end")
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value(refresh=True) == 5  # our own jobs keep nothing; this one keeps what rq keeps


def test_a_hand_over_job_is_started_as_rq_starts_a_job_and_the_worker_ends_idle(queue_env):
    """The worker sends a hand-over job's execution records and its start in one MULTI,
    and its idle state with the job's end (worker.py): Redis must still say what rq's
    own two steps say while the job runs, and the worker must end idle."""
    app = queue_env.app(MAX_RUNNING_PER_USER=0)
    api = api_for(app)
    execution_id = start(api, create(api, model_definition("{{ in.text }}")), "snapshot")
    worker = queue_env.worker("tests.queue.snapshot_worker.SnapshotWorker", MAX_RUNNING_PER_USER=0)
    assert finished(api, execution_id)["status"] == "completed"
    redis = redis_lib.Redis.from_url(queue_env.redis_url)
    snapshot = json.loads(redis.get(f"snapshot:{execution_id}"))
    assert snapshot == {
        "status": JobStatus.STARTED,
        "worker_name": worker.name,
        "started": True,
        "job_ttl": -1,  # persisted while it runs
        "in_started_registry": True,
        "in_intermediate_list": False,
        "worker_state": "busy",
        "execution_kept": True,
        "in_worker_executions": True,
    }
    state = lambda: redis.hget(f"rq:worker:{worker.name}", "state")  # noqa: E731
    assert wait_for(lambda: state() == b"idle", 10, "the worker to be idle")


def test_a_queued_job_id_whose_job_is_gone_is_passed_over_as_rq_does(queue_env):
    """The worker takes a ready job and its hash in one round trip (worker.py): an id
    whose hash has gone (expired, deleted) is skipped, and the next job runs."""
    app = queue_env.app()
    api = api_for(app)
    workflow_id = create(api, model_definition("{{ in.text }}"))
    redis = redis_lib.Redis.from_url(queue_env.redis_url)
    queue = Queue(queue_env.queue, connection=redis)
    redis.rpush(queue.key, "no-such-job")
    execution_id = start(api, workflow_id, "after a gone job")
    worker = queue_env.worker()
    assert finished(api, execution_id)["status"] == "completed"
    assert redis.lrange(queue.key, 0, -1) == []
    assert "Traceback" not in worker.output  # passed over, not a crash of the worker's loop
