"""Proof of life: whoever holds executions refreshes their ``heartbeat_at``, and the
reaper (``recovery.py``) settles those whose holder went silent."""

from __future__ import annotations

import logging
import os
import threading
import time

from flask import Flask
from sqlalchemy import select, update

from ..engine.status import ACTIVE
from ..extensions import db
from ..models import Execution, utcnow
from ..outages import skipped_while_away

log = logging.getLogger(__name__)


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
        # Rows locked by someone else are being claimed or settled right now: skipped,
        # so a heartbeat never waits on (or deadlocks with) the transactions it vouches for.
        free = (
            select(Execution.id)
            .where(Execution.id.in_(held), Execution.status.in_(ACTIVE))
            .with_for_update(skip_locked=True)
        )
        with self.app.app_context(), skipped_while_away("a heartbeat"):
            db.session.execute(update(Execution).where(Execution.id.in_(free)).values(heartbeat_at=utcnow()))
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


_lock = threading.Lock()


def heartbeat(app: Flask) -> Heartbeat:
    with _lock:
        found = app.extensions.get("heartbeat")
        if found is None:
            found = app.extensions["heartbeat"] = Heartbeat(app)
        return found
