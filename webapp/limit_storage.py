"""Rate-limit counters in the database, for deployments without Redis: a storage
for the ``limits`` library (``RATELIMIT_STORAGE_URI=appdb://``), so a limit holds
across every gunicorn process of a local-mode server, as Redis makes it hold in
queue mode.

Each count is one upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``): atomic
on SQLite and PostgreSQL alike, so parallel requests never both see the last slot.
It runs on its own connection in autocommit, outside the request's transaction.
"""

from __future__ import annotations

import random
import time

from limits.storage import Storage
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import RateLimitCounter

counters = RateLimitCounter.__table__
SWEEP_CHANCE = 0.01  # one count in a hundred also deletes expired counters


class DatabaseStorage(Storage):
    STORAGE_SCHEME = ["appdb"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        insert = (postgresql if db.engine.dialect.name == "postgresql" else sqlite).insert(counters)
        expired = counters.c.expires_at <= now
        statement = (
            insert.values(key=key, count=amount, expires_at=now + expiry)
            .on_conflict_do_update(
                index_elements=[counters.c.key],
                set_={
                    "count": case((expired, amount), else_=counters.c.count + amount),
                    "expires_at": case((expired, now + expiry), else_=counters.c.expires_at),
                },
            )
            .returning(counters.c.count)
        )
        with db.engine.begin() as connection:
            if random.random() < SWEEP_CHANCE:
                connection.execute(delete(counters).where(expired))
            return connection.execute(statement).scalar_one()

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
