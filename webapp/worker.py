"""RQ worker classes: ``rq worker --worker-class webapp.worker.AppWorker``.

``AppWorker`` (the default, in the Procfile) runs jobs in its own process
(``SimpleWorker``): no fork per job, so one app, one connection pool and one model
client serve every execution. ``ForkingAppWorker`` forks a work-horse per job, for
those who prefer a fresh process each time. Both:

* run each job inside the app context;
* run the reaper at start-up and every ``REAPER_INTERVAL`` seconds, settling
  executions whose worker died (``services/recovery.py``);
* wait for Redis when it goes away (a restart) instead of exiting.

Warm shutdown (SIGTERM) on ``AppWorker``: the running execution lets the nodes in
flight finish, records them, and goes back to the queue for another worker to
resume. ``ForkingAppWorker`` keeps RQ's behaviour: the horse finishes its job.
A killed work-horse settles its execution at once as ``worker_lost``.
"""

from __future__ import annotations

import logging
import time

from rq import SimpleWorker, Worker

from . import create_app
from .extensions import db
from .services.recovery import reap, reaper
from .services.runs import LOST, settle, shutdown_requested

log = logging.getLogger(__name__)
RECONNECT_DELAY = 2.0


class _AppWorkerMixin:
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("work_horse_killed_handler", self._horse_killed)
        super().__init__(*args, **kwargs)
        self.app = create_app()

    def work(self, burst: bool = False, **kwargs) -> bool:
        if self.app.config["REAPER_ENABLED"]:
            try:
                reap(self.app)
            except Exception:
                log.exception("reaper pass at start-up failed")
            reaper(self.app).ensure_running()
        while True:
            worked = False
            try:
                worked = super().work(burst=burst, **kwargs)
            except Exception:
                log.exception("worker loop failed")
            if burst or self._stop_requested or shutdown_requested.is_set():
                return worked
            log.warning("worker loop ended (Redis unreachable?); starting again in %.0f s", RECONNECT_DELAY)
            time.sleep(RECONNECT_DELAY)

    def perform_job(self, job, queue, execution) -> bool:
        with self.app.app_context():
            return super().perform_job(job, queue, execution)

    def _horse_killed(self, job, retpid, ret_val, rusage) -> None:
        with self.app.app_context():
            settle(job.args[0], "failed", LOST, from_statuses=("running",))


class AppWorker(_AppWorkerMixin, SimpleWorker):
    def request_stop(self, signum, frame):
        shutdown_requested.set()  # the runner sees it at its next node boundary
        return super().request_stop(signum, frame)


class ForkingAppWorker(_AppWorkerMixin, Worker):
    def main_work_horse(self, job, queue):
        with self.app.app_context():
            db.engine.dispose(close=False)  # the parent's pooled connections are not ours to use
        return super().main_work_horse(job, queue)
