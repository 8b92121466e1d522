"""Column types and identifiers every model shares."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB

JSONType = JSON().with_variant(JSONB(), "postgresql")

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_id_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def new_id(prefix: str) -> str:
    """A time-ordered id (ULID layout, lower-case): ``wf_01jc…``.

    Ids made later sort later, even within one millisecond, so "newest first"
    can fall back on the id when timestamps tie.
    """
    global _last_ms, _last_rand
    with _id_lock:
        ms = int(time.time() * 1000)
        if ms <= _last_ms:
            ms, rand = _last_ms, _last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
        _last_ms, _last_rand = ms, rand
    value = (ms << 80) | (rand & ((1 << 80) - 1))
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def utcnow() -> datetime:
    """Naive UTC: the one form every timestamp column stores, on every database."""
    return datetime.now(UTC).replace(tzinfo=None)


def isoformat(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and ``Z``, as docs/api.md fixes for every time."""
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds") + "Z"
