"""The RQ worker class: ``rq worker --worker-class webapp.worker.AppWorker``.

* Jobs run in this process (``SimpleWorker``): no fork per job, so one app, one
  connection pool and one model client serve every execution.
* Each job runs inside the app context.
* At start-up and then every ``REAPER_INTERVAL`` seconds, the reaper settles
  executions whose worker died (``services/recovery.py``).
* SIGTERM is a warm shutdown: the running execution finishes the nodes in flight,
  records them, and goes back to the queue for another worker to resume.
* If Redis goes away (a restart), the worker waits for it instead of exiting.
"""

from __future__ import annotations

import logging
import time

from rq import SimpleWorker

from . import create_app
from .services.recovery import reap, reaper
from .services.runs import shutdown_requested

log = logging.getLogger(__name__)
RECONNECT_DELAY = 2.0


class AppWorker(SimpleWorker):
    def __init__(self, *args, **kwargs) -> None:
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

    def execute_job(self, job, queue):
        with self.app.app_context():
            return super().execute_job(job, queue)

    def request_stop(self, signum, frame):
        shutdown_requested.set()  # the runner sees it at its next node boundary
        return super().request_stop(signum, frame)
