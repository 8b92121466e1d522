"""Rate-limit counters in the database, for deployments without Redis: a storage
for the ``limits`` library (``RATELIMIT_STORAGE_URI=appdb://``), so a limit holds
across every gunicorn process of a local-mode server, as Redis makes it hold in
queue mode.

Each count is one upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``): atomic
on SQLite and PostgreSQL alike, so parallel requests never both see the last slot.
It runs on its own connection, outside the request's transaction: about 0.1 ms a
count on SQLite and 0.8 ms on PostgreSQL here (a commit's round trips; the statement
is built once).
"""

from __future__ import annotations

import functools
import random
import time

from limits.storage import Storage
from sqlalchemy import bindparam, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import RateLimitCounter

counters = RateLimitCounter.__table__
SWEEP_CHANCE = 0.01  # one count in a hundred also deletes expired counters


@functools.cache
def _upsert(dialect: str):
    """The count, built once per dialect (building it per call cost more than sending it):
    a new or expired counter starts at ``amount``, a live one grows by it."""
    expired = counters.c.expires_at <= bindparam("now")
    amount, until = bindparam("amount"), bindparam("until")
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(counters)
    return (
        insert.values(key=bindparam("key"), count=amount, expires_at=until)
        .on_conflict_do_update(
            index_elements=[counters.c.key],
            set_={
                "count": case((expired, amount), else_=counters.c.count + amount),
                "expires_at": case((expired, until), else_=counters.c.expires_at),
            },
        )
        .returning(counters.c.count)
    )


class DatabaseStorage(Storage):
    STORAGE_SCHEME = ["appdb"]

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        with db.engine.begin() as connection:
            if random.random() < SWEEP_CHANCE:
                connection.execute(delete(counters).where(counters.c.expires_at <= now))
            values = {"key": key, "amount": amount, "now": now, "until": now + expiry}
            return connection.execute(_upsert(db.engine.dialect.name), values).scalar_one()

    def get(self, key: str) -> int:
        return self._read(counters.c.count, key) or 0

    def get_expiry(self, key: str) -> float:
        return self._read(counters.c.expires_at, key) or time.time()

    def _read(self, column, key: str):
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            return connection.scalar(select(column).where(counters.c.key == key, counters.c.expires_at > time.time()))

    def check(self) -> bool:
        try:
            with db.engine.connect() as connection:
                connection.scalar(select(1))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with db.engine.begin() as connection:
            return connection.execute(delete(counters)).rowcount

    def clear(self, key: str) -> None:
        with db.engine.begin() as connection:
            connection.execute(delete(counters).where(counters.c.key == key))
