"""Outbound calls with retries that respect the run: no attempt begins once the run
has stopped, a wait between attempts (the backoff, or a server's ``Retry-After``) ends
the moment the run is cancelled or reaches its deadline, and none is left running past
its deadline (each attempt's timeout ends with the run's time), so a timed-out run
leaves no call behind to be paid for unseen.

Model calls (``llm.py``) and HTTP requests (``nodes/http_request.py``) both go through
``attempt_until``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .backoff import Backoff, retry
from .errors import Interrupted, NodeError
from .options import Option
from .stopping import Stopped, never

MAX_ASKED_WAIT = 60.0  # seconds: a longer Retry-After is not waited for (the backoff is used)
MAX_RETRIES = 10  # what a node may ask for
SDK_BACKOFF = Backoff(first=0.5, longest=8.0, jitter=(0.75, 1.0))  # what the openai SDK waits between attempts


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
    last attempt failed, the run stopped after one, or its time ran out; ``Interrupted``
    when the run stopped before the first."""
    made, last = 0, None

    def once(number: int) -> T:
        nonlocal made
        if stopped():  # stopped before this attempt began: the last failure stands, if any
            raise last or Interrupted()
        budget = timeout
        if deadline is not None:
            budget = min(timeout, deadline - time.monotonic())
            if budget <= 0:
                raise NodeError("timeout", f"the execution ran out of time for {what}", attempts=made)
        made = number
        return attempt(budget)

    def again(failure: Exception, number: int, wait: float) -> bool:
        nonlocal last
        if not isinstance(failure, AttemptFailed):
            return False
        last = failure
        if not failure.retryable or number > retries:
            return False
        return deadline is None or time.monotonic() + wait < deadline

    try:
        result = retry(once, backoff=SDK_BACKOFF, again=again, asked=_asked, pause=stopped.wait)
    except AttemptFailed as failed:  # the last attempt's failure stands
        if failed.answer is not None:
            return failed.answer, made
        raise NodeError(failed.code, failed.message, attempts=made) from None
    return result, made


def _asked(failure: Exception) -> float | None:
    return failure.wait if isinstance(failure, AttemptFailed) else None


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
