"""Work a process does on its own clock: a daemon thread per process (a forked child
starts its own), taking a turn every few seconds until stopped. The reaper
(``runs/recovery.py``) and the scheduler (``runs/schedules.py``) are two."""

from __future__ import annotations

import logging
import os
import threading
import time

from flask import Flask

log = logging.getLogger(__name__)


class BackgroundLoop:
    """Subclasses name themselves and say how often (``interval``), whether at all
    (``enabled``), and what one turn does (``turn``); a failed turn is logged and
    the next one comes as usual."""

    name = "background"

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pid: int | None = None
        self.lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return True

    @property
    def interval(self) -> float:
        raise NotImplementedError

    def turn(self) -> None:
        raise NotImplementedError

    def ensure_running(self) -> None:
        if self.pid == os.getpid() or not self.enabled:
            return
        with self.lock:
            if self.pid != os.getpid():
                self.pid = os.getpid()
                threading.Thread(target=self._loop, name=self.name, daemon=True).start()

    def stop(self) -> None:
        self.pid = None  # the loop notices on its next turn

    def _loop(self) -> None:
        pid = os.getpid()
        while self.pid == pid:
            try:
                self.turn()
            except Exception:
                log.exception("%s: a turn failed; will try again", self.name)
            time.sleep(self.interval)


def loop_for(app: Flask, cls: type[BackgroundLoop]) -> BackgroundLoop:
    """The app's one instance of ``cls`` in this process."""
    found = app.extensions.get(cls.name)
    if found is None:
        found = app.extensions[cls.name] = cls(app)
    return found
