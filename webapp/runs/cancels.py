"""A cancel reaches the run it ends at once, wherever that run is.

The cancel is recorded first, in the database (a compare-and-set: ``settle``), then
announced: in local mode to this process's runs directly, in queue mode on a Redis
channel per lane that every worker of the lane listens to (``CancelListener``). The
run's ``Hearing`` hands it to its runner (``Recorder.listen``), whose waits wake at
once: no model call or HTTP attempt starts after the cancel. A run hears from before
its claim to its end, so a cancel between the two is not missed.

An announcement that does not arrive (Redis away, or a cancel made in another web
process in local mode) is made up by the run's own look at the database, every
``STOP_CHECK_SECONDS`` (``records.py``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask
from redis.exceptions import RedisError

from ..background import BackgroundLoop, loop_for
from ..connections import redis_connection

log = logging.getLogger(__name__)
CHANNEL = "execution-cancels:{lane}"
LISTEN_AGAIN_AFTER = 1.0  # seconds between attempts to subscribe while Redis is away
POLL_SECONDS = 1.0  # how long one read of the channel blocks (the listener's stop is seen as often)


class Hearing:
    """One execution's ear for its cancel, held while this process runs it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heard = False
        self._then: Callable[[], None] | None = None

    def hear(self) -> None:
        with self._lock:
            self._heard, then = True, self._then
        if then is not None:
            then()

    @property
    def heard(self) -> bool:
        return self._heard

    def then(self, callback: Callable[[], None]) -> None:
        """``callback()`` when the cancel comes, from the thread that hears it; now if it came."""
        with self._lock:
            self._then, heard = callback, self._heard
        if heard:
            callback()


_hearings: dict[str, Hearing] = {}
_lock = threading.Lock()


@contextmanager
def hearing(execution_id: str) -> Iterator[Hearing]:
    """This process hears ``execution_id``'s cancel while the block runs."""
    ear = Hearing()
    with _lock:
        _hearings[execution_id] = ear
    try:
        yield ear
    finally:
        with _lock:
            if _hearings.get(execution_id) is ear:
                del _hearings[execution_id]


def hear(execution_id: str) -> bool:
    """Tell the run of ``execution_id`` here that it was cancelled; whether one runs here."""
    with _lock:
        ear = _hearings.get(execution_id)
    if ear is None:
        return False
    ear.hear()
    return True


def channel(lane: str) -> str:
    return CHANNEL.format(lane=lane)


class CancelListener(BackgroundLoop):
    """A worker's subscription to its lane's cancels (queue mode), taken again whenever
    Redis comes back."""

    name = "cancel-listener"

    @property
    def enabled(self) -> bool:
        return bool(self.app.config["REDIS_URL"])

    @property
    def interval(self) -> float:
        return LISTEN_AGAIN_AFTER

    def turn(self) -> None:
        """Listen until Redis goes away or the loop is stopped."""
        pid = os.getpid()
        try:
            with redis_connection(self.app).pubsub(ignore_subscribe_messages=True) as subscription:
                subscription.subscribe(channel(self.app.config["RQ_QUEUE"]))
                while self.pid == pid:
                    message = subscription.get_message(timeout=POLL_SECONDS)
                    if message is not None and message["type"] == "message":
                        hear(message["data"].decode())
        except RedisError as exc:
            log.warning("cancel listener: Redis unavailable (%s); listening again in %.0f s", exc, self.interval)


def cancel_listener(app: Flask) -> CancelListener:
    return loop_for(app, CancelListener)
