"""Nothing lost, nothing stuck: heartbeats from whoever holds an execution, and a
reaper that settles the executions nobody holds any more.

Every process that holds executions (a worker running one, a web process with
some in its local pool) refreshes their ``heartbeat_at``. The reaper runs at
worker start and periodically in workers and web processes alike, so an
execution is settled within ``WORKER_LOST_AFTER + REAPER_INTERVAL`` seconds even
when no worker is left:

* ``running`` with a stale heartbeat: its worker died → ``failed`` / ``worker_lost``;
* ``queued`` in queue mode whose RQ job is gone (Redis restarted) → enqueued again
  (the claim's compare-and-set makes a duplicate job harmless);
* ``queued`` in local mode with a stale heartbeat: its process died → ``worker_lost``;
* anything active past ``EXECUTION_TIMEOUT`` (plus grace) → ``failed`` / ``timeout``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update

from ..dispatch import dispatcher
from ..extensions import db
from ..models import Execution, utcnow
from ..models.execution import ACTIVE_STATUSES, QUEUED, RUNNING

log = logging.getLogger(__name__)
ENQUEUE_GRACE = timedelta(seconds=5)  # between the commit and the enqueue, a job is legitimately absent


class Heartbeat:
    """Refreshes ``heartbeat_at`` of the executions this process holds."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.interval = app.config["HEARTBEAT_INTERVAL"]
        self.held: set[str] = set()
        self.lock = threading.Lock()
        self.pid: int | None = None

    def add(self, execution_id: str) -> None:
        with self.lock:
            self.held.add(execution_id)
            if self.pid != os.getpid():  # first use, or a forked child: threads do not survive fork
                self.pid = os.getpid()
                threading.Thread(target=self._loop, name="heartbeat", daemon=True).start()

    def discard(self, execution_id: str) -> None:
        with self.lock:
            self.held.discard(execution_id)

    def beat(self) -> None:
        with self.lock:
            held = list(self.held)
        if not held:
            return
        with self.app.app_context():
            db.session.execute(
                update(Execution)
                .where(Execution.id.in_(held), Execution.status.in_(ACTIVE_STATUSES))
                .values(heartbeat_at=utcnow())
            )
            db.session.commit()

    def stop(self) -> None:
        self.pid = None

    def _loop(self) -> None:
        pid = os.getpid()
        while self.pid == pid:
            time.sleep(self.interval)
            try:
                self.beat()
            except Exception:
                log.exception("heartbeat failed; will try again")


_heartbeat_lock = threading.Lock()


def heartbeat(app: Flask) -> Heartbeat:
    with _heartbeat_lock:
        found = app.extensions.get("heartbeat")
        if found is None:
            found = app.extensions["heartbeat"] = Heartbeat(app)
        return found


def reap(app: Flask) -> dict[str, int]:
    """One pass over active executions; returns how many it settled or requeued."""
    from .runs import LOST, requeue, settle

    config = app.config
    now = utcnow()
    lost_before = now - timedelta(seconds=config["WORKER_LOST_AFTER"])
    too_old = now - timedelta(seconds=config["EXECUTION_TIMEOUT"] + config["WORKER_LOST_AFTER"])
    counts = {"worker_lost": 0, "requeued": 0, "timeout": 0}
    with app.app_context():
        queue = dispatcher(app)
        rows = db.session.execute(
            select(
                Execution.id, Execution.status, Execution.created_at, Execution.heartbeat_at, Execution.job_id
            ).where(
                Execution.status.in_(ACTIVE_STATUSES),
                Execution.queue == queue.lane,  # another deployment's runs are not ours to judge
                Execution.created_at < now - ENQUEUE_GRACE,
            )
        ).all()
        db.session.commit()
        for row in rows:
            beat = row.heartbeat_at or row.created_at
            if row.created_at < too_old:
                message = f"the execution did not finish within {config['EXECUTION_TIMEOUT']:g} s"
                if settle(
                    row.id,
                    "failed",
                    {"code": "timeout", "message": message, "node_id": None},
                    from_statuses=(row.status,),
                ):
                    counts["timeout"] += 1
            elif row.status == RUNNING and beat < lost_before:
                counts["worker_lost"] += settle(row.id, "failed", LOST, from_statuses=(RUNNING,))
            elif (
                row.status == QUEUED
                and queue.mode == "queue"
                and not queue.job_is_live(row.job_id, config["WORKER_LOST_AFTER"])
            ):
                requeue(row.id)
                counts["requeued"] += 1
            elif row.status == QUEUED and queue.mode == "local" and beat < lost_before:
                counts["worker_lost"] += settle(row.id, "failed", LOST, from_statuses=(QUEUED,))
    if any(counts.values()):
        log.warning("reaper: %s", counts)
    return counts


class Reaper:
    """Runs ``reap`` every ``REAPER_INTERVAL`` seconds on a daemon thread, once per process."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pid: int | None = None
        self.lock = threading.Lock()

    def ensure_running(self) -> None:
        if self.pid == os.getpid() or not self.app.config["REAPER_ENABLED"]:
            return
        with self.lock:
            if self.pid != os.getpid():
                self.pid = os.getpid()
                threading.Thread(target=self._loop, name="reaper", daemon=True).start()

    def stop(self) -> None:
        self.pid = None  # the loop notices on its next turn

    def _loop(self) -> None:
        pid = os.getpid()
        while self.pid == pid:
            try:
                reap(self.app)
            except Exception:
                log.exception("reaper pass failed; will try again")
            time.sleep(self.app.config["REAPER_INTERVAL"])


def reaper(app: Flask) -> Reaper:
    found = app.extensions.get("reaper")
    if found is None:
        found = app.extensions["reaper"] = Reaper(app)
    return found
