"""A worker for tests: as it hands a run over (inside the job), it notes what Redis then
says of the job and of itself, under ``snapshot:<execution id>``, for the test to read."""

from __future__ import annotations

import json

from rq import Queue
from rq.job import Job

from webapp.runs.worker import AppWorker


class SnapshotWorker(AppWorker):
    def hand_over(self, execution_id: str) -> bool:
        execution = self.execution  # rq's record of this job's run on this worker
        job = self.get_current_job()
        queue = Queue(job.origin, connection=self.connection)
        fresh = Job.fetch(job.id, connection=self.connection)
        snapshot = {
            "status": fresh.get_status(refresh=False),
            "worker_name": fresh.worker_name,
            "started": fresh.started_at is not None,
            "job_ttl": self.connection.ttl(job.key),
            "in_started_registry": job.id in queue.started_job_registry.get_job_ids(),
            "in_intermediate_list": self.connection.lpos(queue.intermediate_queue_key, job.id) is not None,
            "worker_state": self.connection.hget(self.key, "state").decode(),
            "execution_kept": bool(self.connection.exists(execution.key)),
            "in_worker_executions": bool(
                self.connection.sismember(execution.worker_executions_key, execution.composite_key)
            ),
        }
        self.connection.set(f"snapshot:{execution_id}", json.dumps(snapshot), ex=600)
        return super().hand_over(execution_id)
