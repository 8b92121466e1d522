"""Riding out a database that is briefly away: restarted, failed over, or a
transaction picked as a deadlock's victim.

One rule says which errors are such a moment (``database_unavailable``). The web
answers them ``503`` with ``Retry-After`` (``api/errors.py``); a run in flight keeps
going and writes what it did once the database is back (``ride_out``), so an outage
is never mistaken for a lost worker.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from .admission import aside
from .engine.backoff import Backoff, retry
from .extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_AFTER_SECONDS = 5  # what a client is told to wait while the database is away
# Several workers coming back at once do not all knock at once: ±20 % each.
DATABASE_BACKOFF = Backoff(first=0.2, longest=5.0, jitter=(0.8, 1.2))
PING_AFTER_IDLE = 1.0  # seconds a pooled connection may rest before it is checked again
# SQLite's OperationalError also covers mistakes ("no such table"); only these are passing.
_SQLITE_PASSING = ("locked", "busy", "disk i/o", "unable to open")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is away for a moment, not that we erred."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    if isinstance(exc.orig, sqlite3.Error):
        return any(words in str(exc.orig).lower() for words in _SQLITE_PASSING)
    return True  # PostgreSQL: connection refused or lost, shutdown, deadlock, serialization


def ride_out(work: Callable[[], T], *, what: str, window: float) -> T:
    """Run ``work`` (one transaction, safe to repeat: every write is a compare-and-set)
    and, while the database is away, roll back and run it again with a growing
    wait, for up to ``window`` seconds. Any other error, or a longer outage, raises."""
    give_up_at = time.monotonic() + window

    def once(_attempt: int) -> T:
        try:
            return work()
        except Exception:
            _roll_back()
            raise

    def again(exc: Exception, _attempt: int, wait: float) -> bool:
        if not database_unavailable(exc) or time.monotonic() + wait > give_up_at:
            return False
        log.warning("database unavailable while %s (%s); trying again in %.1f s", what, _first_line(exc), wait)
        return True

    return retry(once, backoff=DATABASE_BACKOFF, again=again, pause=_wait_aside)


def _wait_aside(seconds: float) -> bool:
    with aside():  # the thread's turn, if it holds one, to others meanwhile (``admission.py``)
        time.sleep(seconds)
    return False


def _roll_back() -> None:
    with contextlib.suppress(Exception):  # a connection that is gone has nothing to roll back
        db.session.rollback()


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@contextlib.contextmanager
def skipped_while_away(what: str):
    """For work that can wait for its next turn (a progress write, a stop check, a
    heartbeat): while the database is away, skip it instead of failing."""
    try:
        yield
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        _roll_back()
        log.warning("database unavailable; skipped %s (%s)", what, _first_line(exc))


def ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it has rested ``PING_AFTER_IDLE``
    seconds: the database may have restarted while nobody asked. A busy pool needs no
    ping (SQLAlchemy's ``pool_pre_ping`` sent one before every request, one more round
    trip each): a connection lost under load fails the request that holds it, which
    invalidates the whole pool, so the next requests connect afresh."""

    def resting_from_now(_dbapi_connection, record) -> None:
        record.info["resting_since"] = time.monotonic()

    event.listen(engine, "connect", resting_from_now)  # a connection just made needs no check
    event.listen(engine, "checkin", resting_from_now)

    @event.listens_for(engine, "checkout")
    def ping(dbapi_connection, record, _proxy) -> None:
        if time.monotonic() - record.info["resting_since"] < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool drops this connection and checks out another
            raise DisconnectionError(_first_line(exc)) from exc
