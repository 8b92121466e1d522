"""The RQ worker: ``rq worker --worker-class webapp.runs.worker.AppWorker``.

One process runs up to ``WORKER_CONCURRENCY`` executions at once, on its
``Executor``'s threads: AI work is mostly waiting on models, and a hundred runs in
flight must not need a hundred processes (n8n's queue-mode worker runs ten at once).
The worker takes a job from Redis only once it has a free slot, so a busy worker
leaves the queue to the others; the job itself only hands the execution to the
executor. Users' templates run in sandbox processes (``engine/isolation.py``), so
the worker's own memory and CPU stay its own.

Besides, the worker:

* lowers its CPU priority by ``WORKER_NICE`` as it starts: on a machine it shares with
  the web, requests get a core first;
* spends two Redis round trips on each of its own jobs where rq spends seven or more:
  the job taken with its hash (a Lua script), and its end in one MULTI; it writes no
  records of the job as started, since the run's state lives in the database (what
  each bought: issue 17's analysis in ``docs/benchmarks.md``). Every rq internal this
  relies on is named in ``rq_contract.py``, and checked against rq by its tests;
* runs the reaper at start-up and every ``REAPER_INTERVAL`` seconds (``recovery.py``),
  and listens for cancels of the runs it holds (``cancels.py``);
* waits for Redis when it goes away, trying again every ``RECONNECT_DELAY`` seconds at
  most (rq's own wait doubles up to a minute), and registers afresh when it comes back
  (a registration its last loop could not remove is removed first; one Redis lost is
  written again at the next heartbeat);
* on a warm shutdown (SIGTERM), lets the runs in flight finish the nodes they are in,
  records them, and hands them back to the queue for another worker to resume.

A killed worker's runs stop beating; the reaper settles them as ``worker_lost``.

What the reaper reads of this worker, since it writes no "started" record of a job: for a
run still ``queued``, the job's status in its hash (``queued`` from enqueue to end) and
rq's intermediate list of the queue, where the job stays from its dequeue (the Lua
script's LMOVE) until its end (``_let_go``). A job found there ``WORKER_LOST_AFTER`` after
rq's first-seen mark belongs to a worker that died between taking it and claiming its run
(``dispatch.QueueDispatcher.job_is_live``): the run is enqueued again. Once claimed, a run
proves itself by its heartbeat in the database (``heartbeat.py``), not by anything in Redis.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid

from redis.commands.core import Script
from redis.exceptions import RedisError

from .. import create_app
from ..admission import give_turn_back, take_turn
from ..evaluations import scoring
from ..heap import freeze_startup_objects
from . import start_sandboxes
from .cancels import cancel_listener
from .dispatch import JOB_FUNCTION, dispatcher
from .executor import Executor
from .records import shutdown_requested
from .recovery import reap, reaper
from .rq_contract import (
    Execution,
    IntermediateQueue,
    Job,
    JobStatus,
    Queue,
    Result,
    SimpleWorker,
    WorkerStatus,
    backend_class,
    get_version,
    now,
    worker_registration,
)

log = logging.getLogger(__name__)
RECONNECT_DELAY = 2.0
SLOT_WAIT = 1.0  # seconds between the worker's heartbeats while every slot is busy
SUSPENSION_CHECK = 1.0  # seconds: how soon `rq suspend` is seen (rq asks before every job)
_current: AppWorker | None = None


def current_worker() -> AppWorker | None:
    return _current


# A ready job taken as rq takes it (LMOVE to the queue's intermediate list, then its hash),
# in one round trip.
_TAKE_READY = Script(
    None,
    b"""
local job_id = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
if not job_id then return false end
return {job_id, redis.call('HGETALL', ARGV[1] .. job_id)}
""",
)


class ReadyQueue(Queue):
    """rq's queue, but a worker on one queue takes a ready job in one round trip, not
    two. Waiting for a job when none is ready (BLMOVE) is rq's own."""

    @classmethod
    def dequeue_any(cls, queues, timeout, connection, job_class=None, serializer=None, death_penalty_class=None):
        queues = list(queues)
        if len(queues) == 1 and get_version(connection) >= (6, 2, 0):  # when rq itself would LMOVE
            (queue,) = queues
            keys = [queue.key, queue.intermediate_queue_key]
            while taken := _TAKE_READY(keys, [Job.redis_job_namespace_prefix], client=connection):
                job_id, fields = taken
                if not fields:  # its hash is gone: rq takes the next one
                    continue
                job = backend_class(cls, "job_class", override=job_class)(
                    job_id.decode(), connection=connection, serializer=serializer
                )
                job.restore(dict(zip(fields[::2], fields[1::2], strict=True)))
                return job, queue
        return super().dequeue_any(queues, timeout, connection, job_class, serializer, death_penalty_class)


class AppWorker(SimpleWorker):
    # rq's wait between attempts to reach Redis again doubles up to a minute: after a long
    # outage, a worker would come back tens of seconds late. Ours doubles up to this.
    max_connection_wait_time = RECONNECT_DELAY

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.queue_class is Queue:  # rq's own, unless ``--queue-class`` names another
            self.queue_class = ReadyQueue
        global _current
        self.app = create_app()
        config = self.app.config
        self.executor = Executor(
            self.app, config["WORKER_CONCURRENCY"], dispatcher(self.app).after_run, config["WORKER_ACTIVE_RUNS"]
        )
        self.reserved = False  # a slot taken for the job being performed
        self.holding_job = False  # from a job's dequeue to its end
        self.beaten_at = -math.inf  # when the last heartbeat went to Redis (monotonic)
        self.suspension_checked_at = -math.inf
        _current = self
        freeze_startup_objects()
        os.nice(config["WORKER_NICE"])
        start_sandboxes(self.app, worker=True)  # after nice: its sandboxes inherit the priority

    def work(self, burst: bool = False, **kwargs) -> bool:
        cancel_listener(self.app).ensure_running()
        if self.app.config["REAPER_ENABLED"]:
            try:
                reap(self.app)
            except Exception:
                log.exception("reaper pass at start-up failed")
            reaper(self.app).ensure_running()
        worked = False
        try:
            while True:
                try:
                    worked = super().work(burst=burst, **kwargs) or worked
                except Exception:
                    log.exception("worker loop failed")
                if burst or self._stop_requested or shutdown_requested.is_set():
                    return worked
                log.warning("worker loop ended (Redis unreachable?); starting again")
                self._forget_registration()
        finally:
            self.executor.drain()  # runs in flight finish (or, shutting down, hand back) first

    def _forget_registration(self) -> None:
        """Remove what the last loop's clean-up may have left (Redis refused it): else
        the next loop finds 'an active worker named …' and cannot start. SREM and DEL
        are allowed even when Redis is out of memory, but not inside MULTI: so a
        pipeline without a transaction."""
        while not (self._stop_requested or shutdown_requested.is_set()):
            time.sleep(RECONNECT_DELAY)
            try:
                with self.connection.pipeline(transaction=False) as pipe:
                    worker_registration.unregister(self, pipe)
                    pipe.delete(self.key)
                    pipe.execute()
                return
            except RedisError as exc:
                log.warning("Redis still unavailable (%s); trying again in %.0f s", exc, RECONNECT_DELAY)

    def heartbeat(self, timeout=None, pipeline=None):
        """rq's heartbeat in one round trip, and at most once per ``HEARTBEAT_INTERVAL``:
        rq beats three times per job, three commands each, against a key that lives
        ``worker_ttl`` + 60 s. A registration Redis lost (restarted without persistence)
        is written again in full."""
        if pipeline is not None:  # part of a step rq sends in one round trip anyway
            return super().heartbeat(timeout, pipeline)
        moment = time.monotonic()
        if timeout is None and moment - self.beaten_at < self.app.config["HEARTBEAT_INTERVAL"]:
            return None
        with self.connection.pipeline(transaction=False) as pipe:
            super().heartbeat(timeout, pipe)
            pipe.hexists(self.key, "birth")
            registered = pipe.execute()[-1]
        self.beaten_at = moment
        if not registered:
            self._register_again()
        return None

    def check_for_suspension(self, burst: bool) -> None:
        moment = time.monotonic()
        if moment - self.suspension_checked_at >= SUSPENSION_CHECK:
            self.suspension_checked_at = moment
            super().check_for_suspension(burst)

    def set_state(self, state: str, pipeline=None) -> None:
        """A state the worker's hash already holds is not sent again: rq sets ``idle``
        as a job ends and again before it dequeues the next. (A hash Redis lost is
        written again in full by the heartbeat.)"""
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline)

    def prepare_execution(self, job) -> Execution:
        """Our job only hands its run to the executor, a moment's work, and the run's state
        lives in the database (claimed, beating): so rq's records of the job as started (its
        execution's hash and registries, the job marked started, the worker busy: a MULTI)
        are not written. The job stays in its queue's intermediate list until its end; a
        worker that dies holding it leaves it there for the reaper (``job_is_live``). Any
        other job takes rq's path."""
        if not self._hands_over(job):
            return super().prepare_execution(job)
        execution = Execution(uuid.uuid4().hex, job.id, self.connection, worker_name=self.name)
        self.executions[execution.id] = execution
        return execution

    def prepare_job_execution(self, job, remove_from_intermediate_queue: bool = False) -> None:
        """The job's start, the second half of those records: ours writes none."""
        if not self._hands_over(job):
            return super().prepare_job_execution(job, remove_from_intermediate_queue)
        return None

    def handle_job_success(self, job, queue, started_job_registry, execution) -> None:
        """Our job keeps nothing in Redis once it has handed its run over (``result_ttl=0``:
        the outcome lives in the database): the worker's counts, the job's place in the
        intermediate list and the job itself go in one MULTI. rq's own path reads the job
        back twice (its status, its executions) to find what to delete. Any other job takes
        rq's path."""
        if not self._hands_over(job):
            return super().handle_job_success(job, queue, started_job_registry, execution)
        with self.connection.pipeline() as pipe:
            self.increment_successful_job_count(pipeline=pipe)
            self.increment_total_working_time(job.ended_at - job.started_at, pipe)
            self._let_go(job, pipe)
            pipe.delete(job.key, job.dependents_key, job.dependencies_key, Result.get_key(job.id))
            pipe.execute()
        self.executions.pop(execution.id, None)
        job._status = JobStatus.FINISHED
        self.log.info("Successfully completed job %s on worker %s", job.id, self.name)
        return None

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None) -> None:
        """rq's, once our job has left the intermediate list it was never taken out of."""
        if self._hands_over(job):
            with self.connection.pipeline() as pipe:
                self._let_go(job, pipe)
                pipe.execute()
        return super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)

    def _let_go(self, job, pipe) -> None:
        """Our job out of its queue's intermediate list (where rq's LMOVE put it when the
        worker serves one queue), as rq's start would have taken it, with the first-seen
        mark the reaper may have set on it there (``job_is_live``): a key per job that would
        otherwise stay a day. ``pipe``: a pipeline of the worker's connection."""
        if len(self.queues) == 1:
            intermediate = IntermediateQueue(self.queues[0].key, self.connection)
            pipe.lrem(intermediate.key, 1, job.id)
            pipe.delete(intermediate.get_first_seen_key(job.id))

    def handle_execution_ended(self, job, queue, heartbeat_ttl) -> None:
        """rq writes the job's last heartbeat to Redis as it ends; our job only handed the
        run over (its heartbeat is the execution's, in the database) and is deleted, or kept
        as failed with this in it, right after: no round trip for it. Any other job takes
        rq's path."""
        if not self._hands_over(job):
            return super().handle_execution_ended(job, queue, heartbeat_ttl)
        job.ended_at = job.last_heartbeat = now()
        return None

    def _hands_over(self, job) -> bool:
        """Whether ``job`` is ours as the dispatcher enqueues it: a hand-over of one run,
        keeping nothing in Redis once done."""
        return job.func_name == JOB_FUNCTION and job.get_result_ttl(self.default_result_ttl) == 0

    def _register_again(self) -> None:
        """Redis restarted without our registration (no persistence): the heartbeat
        alone leaves a bare key that ``rq info`` does not list. Register in full."""
        log.warning("worker %s: Redis lost its registration; registering again", self.name)
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, mapping=self.serialize())
            worker_registration.register(self, pipe)
            pipe.expire(self.key, self.worker_ttl + 60)
            pipe.execute()

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """Take a job only with a free slot for it: a full worker leaves jobs to others.
        The job taken, the loop waits for a turn among the runs (``Executor``) and holds
        it to the job's end: it does not compute beside them."""
        while not self.executor.reserve(SLOT_WAIT):
            self.heartbeat()
            if self._stop_requested:
                return None
        result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        if result is None:
            self.executor.release()
        else:
            self.reserved = self.holding_job = True
            take_turn(self.executor.turns)
        return result

    def execute_job(self, job, queue) -> None:
        """The job done, or failed anywhere from its start (rq's records of it included),
        the loop's turn goes back, and so does the job's slot if it started no run: a turn
        kept would stall the worker at its next job."""
        try:
            return super().execute_job(job, queue)
        finally:
            give_turn_back()
            self.holding_job = False
            if self.reserved:
                self.reserved = False
                self.executor.release()

    def get_state(self) -> str:
        """Busy while the loop holds a job, whatever the worker's hash says (ours is never
        marked busy: ``prepare_execution``). So a warm shutdown then waits for the job's
        end, as rq's ``_shutdown`` does for a busy worker; its StopRequested, raised
        wherever the loop is, would leave the job half-taken."""
        return WorkerStatus.BUSY if self.holding_job else super().get_state()

    def perform_job(self, job, queue, execution) -> bool:
        with self.app.app_context():
            return super().perform_job(job, queue, execution)

    def hand_over(self, execution_id: str) -> bool:
        """Called by the job: run the execution on the slot reserved for it."""
        if not self.reserved:
            return False
        self.reserved = False
        self.executor.start(execution_id, reserved=True)
        return True

    def request_stop(self, signum, frame):
        shutdown_requested.set()  # runs stop at their next node boundary and hand back
        scoring.stop_scoring()  # and test cases being scored are let go, for another process
        return super().request_stop(signum, frame)
