"""Workers for tests, named with ``--worker-class``."""

from __future__ import annotations

import json
import threading
import time

from rq import Queue
from rq.job import Job

from webapp.admission import Turns
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


class CountingTurns(Turns):
    """The worker's turns, noting under ``turns:<queue>`` how many were ever held at once
    (``peak``) and how many were taken (``taken``)."""

    def __init__(self, size: int, redis, key: str) -> None:
        super().__init__(size)
        self.redis, self.key = redis, key
        self.count = threading.Lock()
        self.held = self.peak = self.taken = 0

    def take(self) -> None:
        super().take()
        with self.count:
            self.held += 1
            self.peak, self.taken = max(self.peak, self.held), self.taken + 1
            self.redis.hset(self.key, mapping={"peak": self.peak, "taken": self.taken})

    def give_back(self) -> None:
        with self.count:
            self.held -= 1
        super().give_back()


class TurnCountingWorker(AppWorker):
    """Its executor's turns are ``CountingTurns``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        size = self.app.config["WORKER_ACTIVE_RUNS"]
        self.executor.turns = CountingTurns(size, self.connection, f"turns:{self.queues[0].name}")


class SlowToStartWorker(AppWorker):
    """Holds each job it takes for 2 s before performing it, having said so under
    ``holding:<queue>``: a window for a test to stop it in."""

    def execute_job(self, job, queue) -> None:
        self.connection.set(f"holding:{queue.name}", job.id, ex=600)
        time.sleep(2)
        return super().execute_job(job, queue)
