"""Workers for tests, named with ``--worker-class``."""

from __future__ import annotations

import json

from rq import Queue
from rq.job import Job

from webapp.runs.worker import AppWorker


class SnapshotWorker(AppWorker):
    """As it hands a run over (inside the job), it notes what Redis then says of the job
    and of itself, under ``snapshot:<execution id>``, for the test to read."""

    def hand_over(self, execution_id: str) -> bool:
        job = self.get_current_job()
        queue = Queue(job.origin, connection=self.connection)
        fresh = Job.fetch(job.id, connection=self.connection)
        snapshot = {
            "status": fresh.get_status(refresh=False),
            "in_started_registry": job.id in queue.started_job_registry.get_job_ids(),
            "in_intermediate_list": self.connection.lpos(queue.intermediate_queue_key, job.id) is not None,
            "worker_state": self.connection.hget(self.key, "state").decode(),
            "worker_executions": self.connection.scard(self.executions_key),
        }
        self.connection.set(f"snapshot:{execution_id}", json.dumps(snapshot), ex=600)
        return super().hand_over(execution_id)


class FailingWorker(AppWorker):
    """Its hand-over fails: the job takes rq's failure path."""

    def hand_over(self, execution_id: str) -> bool:
        raise RuntimeError("no hand-over here")
