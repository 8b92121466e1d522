"""The one way a test waits for something that happens elsewhere (a worker, a thread,
another process): poll until it holds, and fail the test, naming what was awaited and
the last thing seen, when it does not hold in time. Never return quietly on a time-out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    probe: Callable[[], T],
    *,
    until: Callable[[T], object] = bool,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """``probe()``'s first value that satisfies ``until`` (by default: the first truthy
    one), polled every ``interval`` seconds for at most ``timeout`` seconds; past it, an
    ``AssertionError`` (the test fails)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or probe.__name__}; last: {value!r}")
        time.sleep(interval)


TERMINAL = ("completed", "failed", "cancelled")


def finished(api, execution_id: str, timeout: float = 30.0) -> dict:
    """The execution, read over the API once it has settled."""

    def settled() -> dict | None:
        body = api.get(f"/executions/{execution_id}").json
        return body if body["status"] in TERMINAL else None

    return eventually(settled, timeout=timeout, what=f"{execution_id} to finish")


def node_reached(api, execution_id: str, node_id: str, status: str = "running", timeout: float = 10.0) -> dict:
    """The execution once its node ``node_id`` has ``status``."""

    def reached() -> dict | None:
        body = api.get(f"/executions/{execution_id}").json
        return body if any(n["node_id"] == node_id and n["status"] == status for n in body["nodes"]) else None

    return eventually(reached, timeout=timeout, what=f"{node_id} of {execution_id} to be {status}")
