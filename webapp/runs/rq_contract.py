"""Every part of rq that this application relies on beyond rq's documented API, named in
one place. rq is pinned (``RQ_VERSION``, requirements.txt); ``tests/queue/test_rq_contract.py``
checks each item below against the rq installed and fails when rq changes one, so an
upgrade of rq starts there. The application imports rq's names from here only.

Why reach inside rq at all: our job only hands its run to the worker's executor (the run's
state lives in the database), so the worker drops or batches most of rq's per-job
bookkeeping: two Redis round trips per job where rq spends seven (the A/Bs are in
``docs/benchmarks.md``).

What relies on what:

* ``worker.AppWorker`` overrides the methods of rq's worker named in ``WORKER_METHODS``,
  with the parameters listed. rq's loop calls them per job in this order (``CALL_ORDER``):
  ``dequeue_job_and_maintain_ttl``, ``execute_job``, ``prepare_execution``, ``perform_job``,
  ``prepare_job_execution``, the job, ``handle_execution_ended``, ``handle_job_success`` (or
  ``handle_job_failure``). Besides: ``heartbeat`` and ``set_state`` (each may be given a
  pipeline), ``get_state`` (rq's warm shutdown waits while it says busy), and
  ``check_for_suspension``, ``request_stop``, ``work``. It reads and writes the worker
  attributes in ``WORKER_ATTRIBUTES`` and the job attributes in ``JOB_ATTRIBUTES``.
* ``worker.ReadyQueue.dequeue_any`` does, as one Lua script, what rq's dequeue of a single
  queue does on Redis 6.2 or later: LMOVE (LEFT to RIGHT) from the queue's list
  (``rq:queue:<name>``) to its intermediate list (``<queue key>:intermediate``), then the
  job's hash (``rq:job:<id>``, ``Job.redis_job_namespace_prefix``).
* rq waits between attempts to reach Redis in its dequeue loop, doubling up to the worker's
  ``max_connection_wait_time``; ``AppWorker`` lowers that cap.
* The reaper (``dispatch.QueueDispatcher.job_is_live``) judges whether a queued execution's
  job may still run from the job's status in its hash and, because our worker writes no
  "started" record, from rq's intermediate list: a job still there ``WORKER_LOST_AFTER``
  after rq's own first-seen mark (``IntermediateQueue.set_first_seen`` / ``get_first_seen``,
  a key of its own, ``get_first_seen_key``, which the worker deletes as the job ends)
  belongs to a worker that died during the hand-over. rq's maintenance
  (``IntermediateQueue.cleanup``) fails a job left there a minute outside the started
  registry; ours leaves the list within its hand-over, milliseconds.
"""

from __future__ import annotations

from rq import Queue, SimpleWorker, worker_registration
from rq.executions import Execution
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job, JobStatus
from rq.results import Result
from rq.utils import backend_class, get_version, now
from rq.worker import WorkerStatus

__all__ = [
    "Execution",
    "IntermediateQueue",
    "Job",
    "JobStatus",
    "Queue",
    "Result",
    "SimpleWorker",
    "WorkerStatus",
    "backend_class",
    "get_version",
    "now",
    "worker_registration",
]

RQ_VERSION = "3.0.0"

# Methods of rq's worker that AppWorker overrides (or calls with super()), and the
# parameters (after ``self``) each is relied on to take, in order.
WORKER_METHODS: dict[str, tuple[str, ...]] = {
    "work": (
        "burst",
        "logging_level",
        "date_format",
        "log_format",
        "max_jobs",
        "max_idle_time",
        "with_scheduler",
        "dequeue_strategy",
    ),
    "dequeue_job_and_maintain_ttl": ("timeout", "max_idle_time"),
    "execute_job": ("job", "queue"),
    "prepare_execution": ("job",),
    "perform_job": ("job", "queue", "execution"),
    "prepare_job_execution": ("job", "remove_from_intermediate_queue"),
    "handle_job_success": ("job", "queue", "started_job_registry", "execution"),
    "handle_job_failure": ("job", "queue", "started_job_registry", "exc_string", "execution"),
    "handle_execution_ended": ("job", "queue", "heartbeat_ttl"),
    "heartbeat": ("timeout", "pipeline"),
    "set_state": ("state", "pipeline"),
    "get_state": (),
    "check_for_suspension": ("burst",),
    "request_stop": ("signum", "frame"),
    "increment_successful_job_count": ("pipeline",),
    "increment_total_working_time": ("job_execution_time", "pipeline"),
    "serialize": (),
}

# The order rq's loop calls a job's hooks in; the job itself runs between
# ``prepare_job_execution`` and ``handle_execution_ended`` (which sets the ``ended_at``
# that ``handle_job_success`` reads). AppWorker takes its turn in the
# first and gives it back as the second ends; the started records it skips are those of
# ``prepare_execution`` and ``prepare_job_execution``.
CALL_ORDER = (
    "dequeue_job_and_maintain_ttl",
    "execute_job",
    "prepare_execution",
    "perform_job",
    "prepare_job_execution",
    "handle_execution_ended",
    "handle_job_success",
)

# A worker's attributes AppWorker reads or sets.
WORKER_ATTRIBUTES = (
    "_state",  # what set_state last sent: an unchanged state is not sent again
    "_stop_requested",
    "executions",  # rq's executions in flight, by id: ours are kept there too
    "queues",
    "queue_class",
    "key",  # the worker's hash
    "name",
    "worker_ttl",
    "default_result_ttl",
    "connection",
    "log",
    "max_connection_wait_time",
)

# A job's attributes the worker and the reaper read or set (its end is written in one
# MULTI of the worker's own); ``get_status``, ``get_result_ttl`` and ``restore`` besides.
JOB_ATTRIBUTES = (
    "func_name",
    "key",
    "dependents_key",
    "dependencies_key",
    "started_at",
    "ended_at",
    "last_heartbeat",
    "_status",
)
