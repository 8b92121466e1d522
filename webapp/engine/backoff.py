"""The one retry loop: try, and after a failure worth another try, wait a growing,
jittered while first. Outbound calls use it (``attempts.py``: the openai SDK's backoff,
a server's ``Retry-After``, a wait the run's stop wakes), and so do transactions riding
out a database outage (``outages.py``: a longer window, the thread's turn given up while
it waits). Each caller says which failures are worth another try and how it waits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """``first`` seconds, doubling up to ``longest``, each scaled by a random factor in
    ``jitter`` (so clients failing together do not all come back together)."""

    first: float
    longest: float
    jitter: tuple[float, float]

    def wait(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (from 1)."""
        return min(self.first * 2 ** (attempt - 1), self.longest) * random.uniform(*self.jitter)


def _nothing_asked(_failure: Exception) -> float | None:
    return None


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def retry(
    attempt: Callable[[int], T],
    *,
    backoff: Backoff,
    again: Callable[[Exception, int, float], bool],
    asked: Callable[[Exception], float | None] = _nothing_asked,
    pause: Callable[[float], bool] = _sleep,
) -> T:
    """``attempt(n)`` (``n`` from 1) until it returns. After a failure, ``again(failure, n,
    wait)`` says whether to try once more after ``wait`` seconds (what the failure asked
    for, ``asked``, else the backoff's); ``pause(wait)`` waits, and returns True to give
    up instead (the run stopped meanwhile). Giving up raises the last failure."""
    attempts = 0
    while True:
        attempts += 1
        try:
            return attempt(attempts)
        except Exception as failure:
            wait = asked(failure)
            if wait is None:
                wait = backoff.wait(attempts)
            if not again(failure, attempts, wait) or pause(wait):
                raise
