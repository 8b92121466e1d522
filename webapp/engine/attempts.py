"""Outbound calls with retries that respect the run: no attempt begins once the run
has stopped, and none is left running past its deadline (each attempt's timeout ends
with the run's time), so a timed-out run leaves no call behind to be paid for unseen.

Model calls (``llm.py``) and HTTP requests (``nodes/http_request.py``) both go through
``attempt_until``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import NodeError
from .model_calls import Stopped, never
from .options import Option

MAX_ASKED_WAIT = 60.0  # seconds: a longer Retry-After is not waited for (the backoff is used)
MAX_RETRIES = 10  # what a node may ask for


def retries_option(**changes) -> Option:
    """The ``retries`` option of every node that calls out (its default and help its own)."""
    return Option(
        key="retries", kind="integer", label="Retries", minimum=0, maximum=MAX_RETRIES, advanced=True, **changes
    )


T = TypeVar("T")


class AttemptFailed(Exception):
    """One attempt's failure: the node's error code and message, whether another
    attempt may succeed, how long the server asked us to wait first, and the answer
    that stands if no attempt is left (an HTTP 503 is still an answer)."""

    def __init__(self, code: str, message: str, *, retryable=False, wait: float | None = None, answer=None) -> None:
        super().__init__(message)
        self.code, self.message, self.retryable, self.wait, self.answer = code, message, retryable, wait, answer


def attempt_until(
    attempt: Callable[[float], T],
    *,
    retries: int,
    timeout: float,
    deadline: float | None = None,
    stopped: Stopped = never,
    what: str = "this call",
) -> tuple[T, int]:
    """``attempt(timeout)``'s result and the attempts it took; ``NodeError`` when the
    last attempt failed, the run stopped, or its time ran out."""
    attempts = 0
    while True:
        attempts += 1
        budget = timeout
        if deadline is not None:
            budget = min(timeout, deadline - time.monotonic())
            if budget <= 0:
                raise NodeError("timeout", f"the execution ran out of time for {what}", attempts=attempts - 1)
        try:
            return attempt(budget), attempts
        except AttemptFailed as failed:
            wait = failed.wait if failed.wait is not None else backoff(attempts)
            out_of_time = deadline is not None and time.monotonic() + wait >= deadline
            if not failed.retryable or attempts > retries or out_of_time or stopped():
                if failed.answer is not None:
                    return failed.answer, attempts
                raise NodeError(failed.code, failed.message, attempts=attempts) from None
        time.sleep(wait)


def asked_wait(headers) -> float | None:
    """``Retry-After`` (or OpenAI's ``retry-after-ms``) in seconds, if given and sane."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            wait = float(headers.get(name, "")) / scale
        except ValueError:
            continue
        if 0 <= wait <= MAX_ASKED_WAIT:
            return wait
    return None


def backoff(attempt: int) -> float:
    """What the openai SDK waits: 0.5 s doubling to 8 s, less up to a quarter of jitter."""
    return min(0.5 * 2 ** (attempt - 1), 8.0) * (1 - 0.25 * random.random())
