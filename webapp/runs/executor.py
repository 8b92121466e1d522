"""The threads of one process that run executions, a bounded number at once: an RQ
worker has one (``WORKER_CONCURRENCY``), and so has a web process in local mode
(``LOCAL_WORKERS``, fewer: it serves requests too). Either way the same
``run_execution`` runs on them, so waiting on models overlaps while each run's user
code is bounded in its sandbox process.

In a worker, at most ``active`` of those runs take their own steps at once
(``WORKER_ACTIVE_RUNS``), in arrival order: their claims, sandbox hand-offs and records. A
run steps aside (``admission.aside()``) while it waits on its nodes in flight (a model, an
HTTP call, a child workflow: they work on the run's node threads meanwhile), on its sandbox
step, or out a database outage. The threads share one GIL: when sixteen all compute, each
gets it in no particular order and drags the others' round trips out. The worker's own loop
takes a turn too, from a job taken to the job's end (``worker.py``). With one turn, two workers
completed 9 % more executions per second (issue 17, ``docs/benchmarks.md``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

from flask import Flask

from ..admission import Turns, turn
from .execution import Outcome, run_execution
from .heartbeat import heartbeat

log = logging.getLogger(__name__)


class Executor:
    def __init__(
        self, app: Flask, capacity: int, after_run: Callable[[str, Outcome], None], active: int | None = None
    ) -> None:
        self.app, self.after_run = app, after_run
        self.pool = ThreadPoolExecutor(capacity, thread_name_prefix="execution")
        self.turns = Turns(active) if active else None  # none: every run works when it has work
        self.slots = threading.Semaphore(capacity)  # held by a queue worker from dequeue to the end
        self.active = 0
        self.idle = threading.Condition()

    def reserve(self, timeout: float) -> bool:
        """A slot for one more execution, before taking it from the queue."""
        return self.slots.acquire(timeout=timeout)

    def release(self) -> None:
        self.slots.release()

    def start(self, execution_id: str, reserved: bool = False) -> None:
        """Run it on a thread of this process; ``reserved``: with a slot from ``reserve``."""
        heartbeat(self.app).add(execution_id)  # held here from now: only this process can run it
        with self.idle:
            self.active += 1
        self.pool.submit(self._run, execution_id, reserved)

    def drain(self) -> None:
        """Wait until no execution runs here."""
        with self.idle:
            self.idle.wait_for(lambda: self.active == 0)

    def _run(self, execution_id: str, reserved: bool) -> None:
        try:
            with turn(self.turns) if self.turns else nullcontext(), self.app.app_context():
                outcome = run_execution(execution_id)
                self.after_run(execution_id, outcome)
        except Exception:
            log.exception("execution %s crashed", execution_id)
        finally:
            # Even a run that crashed before its claim stops beating: silent, the reaper settles it.
            heartbeat(self.app).discard(execution_id)
            if reserved:
                self.release()
            with self.idle:
                self.active -= 1
                self.idle.notify_all()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)
