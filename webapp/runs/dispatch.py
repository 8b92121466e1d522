"""Where executions run: RQ workers when ``REDIS_URL`` is set, else this process's
``Executor``. Both run the same ``run_execution``; only the hand-off differs.

A dispatcher also lets a sync request wait for the end of a run without polling
the database: an in-process event locally, a Redis list pushed by the worker.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import UTC, datetime
from enum import StrEnum

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import select, update

from ..connections import redis_connection
from ..engine.status import ACTIVE
from ..evaluations import scoring
from ..extensions import db
from . import cancels
from .execution import Ended, Outcome
from .executor import Executor
from .records import executions
from .rq_contract import IntermediateQueue, Job, JobStatus, Queue

log = logging.getLogger(__name__)
DONE_KEY = "execution-done:{}"
JOB_FUNCTION = "webapp.runs.jobs.run_execution"
LIVE_JOB_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
SETTLED_POLL_SECONDS = 0.25  # how often a sync request waiting without Redis reads its run's status


class _Dispatcher:
    """What both lanes share: handing an execution over again, and what follows a run."""

    lane: str

    def new_job_id(self, execution_id: str) -> str | None:
        raise NotImplementedError

    def submit(self, execution_id: str, job_id: str | None) -> None:
        raise NotImplementedError

    def notify_finished(self, execution_id: str) -> None:
        raise NotImplementedError

    def announce_cancel(self, execution_id: str) -> None:
        """Tell the process running a cancelled execution, so its waits end now (``cancels.py``)."""
        raise NotImplementedError

    def requeue(self, execution_id: str) -> None:
        """Hand a queued execution over again, under a new job id recorded first: if
        the hand-over itself is lost, the reaper sees a job id naming no job."""
        job_id = self.new_job_id(execution_id)
        if job_id is not None:  # local mode names no job
            db.session.execute(update(executions).where(executions.c.id == execution_id).values(job_id=job_id))
            db.session.commit()
        self.submit(execution_id, job_id)

    def after_run(self, execution_id: str, outcome: Outcome) -> None:
        """A waiting request hears of a settled run; a drained run goes back to the
        queue; a freed slot goes to the owner's oldest held-back run; a test run's case
        is scored."""
        if outcome.ended in (Ended.SETTLED, Ended.NOT_CLAIMED):
            self.notify_finished(execution_id)
        if outcome.ended == Ended.HANDED_BACK:
            self.requeue(execution_id)
            log.info("execution %s handed back to the queue for another worker", execution_id)
        if outcome.woken is not None:
            self.requeue(outcome.woken)
        if outcome.scored:  # on a scorer thread: a judge's model call holds up no run
            scoring.score_later(current_app._get_current_object(), execution_id)


class Mode(StrEnum):
    """Where runs go: this process's executor (no ``REDIS_URL``), or RQ on Redis."""

    LOCAL = "local"
    QUEUE = "queue"


class LocalDispatcher(_Dispatcher):
    mode = Mode.LOCAL
    lane = Mode.LOCAL.value  # what executions handed to this dispatcher record as their queue

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.executor = Executor(app, app.config["LOCAL_WORKERS"], self.after_run)
        self.finished: dict[str, threading.Event] = {}

    def new_job_id(self, execution_id: str) -> None:
        return None  # no job outside this process to name

    def submit(self, execution_id: str, job_id: str | None) -> None:
        self.finished.setdefault(execution_id, threading.Event())  # a woken run keeps its waiter
        self.executor.start(execution_id)

    def notify_finished(self, execution_id: str) -> None:
        event = self.finished.pop(execution_id, None)
        if event is not None:
            event.set()

    def announce_cancel(self, execution_id: str) -> None:
        cancels.hear(execution_id)  # run here, if by this process (another one looks at the database)

    def wait(self, execution_id: str, timeout: float) -> None:
        event = self.finished.get(execution_id)
        if event is not None:
            event.wait(timeout)

    def job_is_live(self, job_id: str | None, claim_within: float) -> bool:
        return False  # nothing outlives this process; heartbeats tell the reaper the rest


class QueueDispatcher(_Dispatcher):
    mode = Mode.QUEUE

    def __init__(self, app: Flask) -> None:
        self.redis = redis_connection(app)
        self.queue = Queue(app.config["RQ_QUEUE"], connection=self.redis)
        self.lane = app.config["RQ_QUEUE"]
        # An AppWorker's job only hands the run to its executor; a plain ``rq worker`` runs
        # it in the job, where RQ's timeout is a backstop behind EXECUTION_TIMEOUT.
        self.job_timeout = int(app.config["EXECUTION_TIMEOUT"]) + 120

    def new_job_id(self, execution_id: str) -> str:
        """Each hand-over gets a job id of its own: a requeued run never shares one
        with the job a dead worker left behind."""
        return f"{execution_id}-{secrets.token_hex(3)}"

    def submit(self, execution_id: str, job_id: str | None) -> None:
        """Enqueue the job. If Redis is unreachable the execution stays queued with a
        job id that names no job, and the reaper enqueues it again once Redis answers."""
        try:
            with self.redis.pipeline() as pipe:  # the job and its queue's registration: one round trip
                self.queue.enqueue_call(
                    JOB_FUNCTION,
                    args=(execution_id,),
                    job_id=job_id,
                    timeout=self.job_timeout,
                    result_ttl=0,  # the outcome lives in the database: no result hash, no registry entry
                    failure_ttl=24 * 3600,
                    description=f"run_execution({execution_id})",
                    pipeline=pipe,
                )
                pipe.execute()
        except RedisError as exc:
            log.warning("could not enqueue %s: %s", execution_id, exc)

    def notify_finished(self, execution_id: str) -> None:
        key = DONE_KEY.format(execution_id)
        try:
            with self.redis.pipeline() as pipe:
                pipe.rpush(key, 1).expire(key, 60).execute()
        except RedisError:
            pass  # a waiting request falls back to reading the database

    def announce_cancel(self, execution_id: str) -> None:
        try:
            self.redis.publish(cancels.channel(self.lane), execution_id)
        except RedisError as exc:  # the run learns it from the database instead, within STOP_CHECK_SECONDS
            log.warning("could not announce the cancel of %s: %s", execution_id, exc)

    def wait(self, execution_id: str, timeout: float) -> None:
        """Until the worker says the run ended, or ``timeout``. With Redis away (or gone
        while waiting), the run goes on regardless: then the database is asked instead."""
        give_up_at = time.monotonic() + timeout
        if timeout <= 0:
            return
        try:
            self.redis.blpop([DONE_KEY.format(execution_id)], timeout=max(timeout, 0.01))
        except RedisError:
            _poll_until_settled(execution_id, give_up_at)

    def job_is_live(self, job_id: str | None, claim_within: float) -> bool:
        """Whether the job of a still-queued execution may yet run it. A job a worker
        took more than ``claim_within`` seconds ago without claiming the execution
        belongs to a worker that died in between."""
        if job_id is None:
            return False
        try:
            job = Job.fetch(job_id, connection=self.redis)
        except Exception:  # NoSuchJobError, or a job whose data Redis lost
            return False
        status = job.get_status(refresh=False)
        if status == JobStatus.STARTED and job.started_at is not None:
            return _seconds_since(job.started_at) < claim_within
        if status == JobStatus.QUEUED and self._stuck_in_hand_over(job_id, claim_within):
            return False
        return status in LIVE_JOB_STATUSES

    def _stuck_in_hand_over(self, job_id: str, claim_within: float) -> bool:
        """A worker moves the job it takes to RQ's intermediate list and marks it
        started a moment later. One still there ``claim_within`` seconds after we
        first saw it (RQ's own first-seen mark) belongs to a worker that died between."""
        intermediate = IntermediateQueue(self.queue.key, connection=self.redis)
        if self.redis.lpos(intermediate.key, job_id) is None:
            return False
        intermediate.set_first_seen(job_id)
        first_seen = intermediate.get_first_seen(job_id)
        return first_seen is not None and _seconds_since(first_seen) >= claim_within


def _poll_until_settled(execution_id: str, give_up_at: float) -> None:
    while time.monotonic() < give_up_at:
        status = db.session.scalar(select(executions.c.status).where(executions.c.id == execution_id))
        db.session.commit()  # the connection goes back to the pool between looks
        if status not in ACTIVE:
            return
        time.sleep(min(SETTLED_POLL_SECONDS, max(give_up_at - time.monotonic(), 0)))


def _seconds_since(moment: datetime) -> float:
    return (datetime.now(UTC) - moment.replace(tzinfo=moment.tzinfo or UTC)).total_seconds()


_lock = threading.Lock()


def dispatcher(app: Flask | None = None) -> LocalDispatcher | QueueDispatcher:
    app = app or current_app._get_current_object()
    found = app.extensions.get("dispatcher")
    if found is None:
        with _lock:
            found = app.extensions.get("dispatcher")
            if found is None:
                kind = QueueDispatcher if app.config["REDIS_URL"] else LocalDispatcher
                found = app.extensions["dispatcher"] = kind(app)
    return found
