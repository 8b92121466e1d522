"""The worker's Redis shortcuts are for its own hand-over jobs only: any other job on its
queue takes rq's own path, and keeps its result as rq promises."""

from __future__ import annotations

import json

import redis as redis_lib
from rq import Queue
from rq.job import JobStatus

from tests.definitions import model_definition
from tests.queue.test_recovery import api_for, create, start
from tests.waiting import eventually, finished


def test_a_job_that_is_not_a_hand_over_runs_the_rq_way_and_keeps_its_result(
    shared_workers, database_url, redis_url, redis_client
):
    worker = shared_workers(database_url, redis_url)
    job = Queue(worker.queue, connection=redis_client).enqueue("operator.add", 2, 3, result_ttl=600)
    ended = (JobStatus.FINISHED, JobStatus.FAILED)
    assert eventually(lambda: job.get_status(refresh=True) in ended, timeout=20, what="the job to end")
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value(refresh=True) == 5  # our own jobs keep nothing; this one keeps what rq keeps


def test_a_hand_over_job_is_held_in_the_intermediate_list_until_its_end_and_the_worker_stays_idle(queue_env):
    """The worker writes no started records for a hand-over job (worker.py): while it runs,
    Redis says it is still queued, in its queue's intermediate list (where a dead worker's
    job is found by the reaper), and the worker is idle with no execution; at its end the
    job has left the list."""
    app = queue_env.app(MAX_RUNNING_PER_USER=0)
    api = api_for(app)
    execution_id = start(api, create(api, model_definition("{{ in.text }}")), "snapshot")
    worker = queue_env.worker("tests.queue.workers.SnapshotWorker", MAX_RUNNING_PER_USER=0)
    assert finished(api, execution_id)["status"] == "completed"
    redis = redis_lib.Redis.from_url(queue_env.redis_url)
    snapshot = json.loads(redis.get(f"snapshot:{execution_id}"))
    assert snapshot == {
        "status": JobStatus.QUEUED,
        "in_started_registry": False,
        "in_intermediate_list": True,
        "worker_state": "idle",
        "worker_executions": 0,
    }
    queue = Queue(queue_env.queue, connection=redis)
    assert redis.lrange(queue.intermediate_queue_key, 0, -1) == []
    assert redis.hget(f"rq:worker:{worker.name}", "state") == b"idle"


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


def test_a_hand_over_job_that_fails_is_kept_as_failed_and_leaves_the_intermediate_list(queue_env):
    app = queue_env.app(REAPER_ENABLED=False)
    api = api_for(app)
    start(api, create(api, model_definition("{{ in.text }}")), "fails")
    queue_env.worker("tests.queue.workers.FailingWorker", REAPER_ENABLED=False)
    redis = redis_lib.Redis.from_url(queue_env.redis_url)
    queue = Queue(queue_env.queue, connection=redis)
    (job_id,) = eventually(lambda: queue.failed_job_registry.get_job_ids(), timeout=20, what="the job to fail")
    assert "no hand-over here" in queue.fetch_job(job_id).latest_result().exc_string
    assert redis.lrange(queue.intermediate_queue_key, 0, -1) == []
