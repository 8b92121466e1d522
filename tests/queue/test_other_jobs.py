"""The worker's Redis shortcuts are for its own hand-over jobs only: any other job on its
queue takes rq's own path, and keeps its result as rq promises."""

from __future__ import annotations

from rq import Queue
from rq.job import JobStatus

from tests.queue.test_recovery import wait_for


def test_a_job_that_is_not_a_hand_over_runs_the_rq_way_and_keeps_its_result(
    shared_workers, database_url, redis_url, redis_client
):
    worker = shared_workers(database_url, redis_url)
    job = Queue(worker.queue, connection=redis_client).enqueue("operator.add", 2, 3, result_ttl=600)
    ended = (JobStatus.FINISHED, JobStatus.FAILED)
    assert wait_for(lambda: job.get_status(refresh=True) in ended, 20, "the job to end")
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value(refresh=True) == 5  # our own jobs keep nothing; this one keeps what rq keeps
