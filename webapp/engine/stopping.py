"""How a run tells the work on its threads to stop: one signal, set once, that a
waiting attempt sleeps on (``wait``) instead of ``time.sleep``, so a cancel or the
run's deadline wakes it at once and nothing starts after either.

The runner owns one ``StopSignal`` per run and sets it the moment it learns the run
must end (a cancel heard from elsewhere reaches it through ``Observer.listen``); a
child run's signal follows its parent's (``on_set``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Stopped(Protocol):
    """Whether the run has stopped, and a wait that ends early when it does."""

    def __call__(self) -> bool: ...

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once when the run stops; whether it has."""
        ...

    def on_set(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the setting thread) once the run stops; now if it has."""
        ...


class StopSignal:
    """Set once: by the runner when the run ends, or by its deadline (``time.monotonic()``),
    whichever comes first."""

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def set(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def __call__(self) -> bool:
        return self._event.is_set() or (self.deadline is not None and time.monotonic() >= self.deadline)

    def wait(self, seconds: float) -> bool:
        if self.deadline is not None:  # the deadline wakes a wait too
            seconds = min(seconds, self.deadline - time.monotonic())
        if seconds > 0:
            self._event.wait(seconds)
        return self()

    def on_set(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()


class _Never:
    """No run to stop (a provider's test call, a tool): waits are plain sleeps."""

    def __call__(self) -> bool:
        return False

    def wait(self, seconds: float) -> bool:
        time.sleep(max(seconds, 0.0))
        return False

    def on_set(self, callback: Callable[[], None]) -> None:
        pass


never: Stopped = _Never()
