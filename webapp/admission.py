"""Turns, taken in arrival order: at most ``ACTIVE_REQUESTS`` requests of one web process
run the app at once, and at most ``WORKER_ACTIVE_RUNS`` runs of one RQ worker take their
own steps at once (``runs/executor.py``); the others wait for a turn in the order they came.

Why: the threads of a web process share one GIL, and when eight of them all work at
once they get it in no particular order, so an unlucky request waits out many others'
turns. At concurrency 8 the slowest 1 % of async executes took ~58 ms without turns and
~50 ms with four; a plain semaphore, which lets any thread barge in, changed nothing (issue
17, ``docs/benchmarks.md``). Fewer gunicorn threads would shorten the tail too, but a thread
is also what a request waiting on something outside the process holds: such a request steps
aside (``aside()``) and leaves its turn to one that has work to do. The turn a thread holds
is the thread's own (a thread-local), so ``aside()`` finds it from anywhere below.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

_held = threading.local()  # .turns: the ``Turns`` one of whose turns this thread holds


class Turns:
    """A semaphore that hands a freed turn to the longest waiter: none can barge in
    ahead of it (``threading.Semaphore`` lets whichever thread runs first take it)."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._lock = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()

    def take(self) -> None:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            baton = threading.Lock()
            baton.acquire()
            self._waiting.append(baton)
        try:
            baton.acquire()  # released by give_back, which passes its turn on to us
        except BaseException:  # a signal's exception (a worker told to stop): leave the line
            with self._lock:
                passed = baton not in self._waiting
                if not passed:
                    self._waiting.remove(baton)
            if passed:  # the turn came to us meanwhile: it goes to the next
                self.give_back()
            raise

    def give_back(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._free += 1

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)


def take_turn(turns: Turns) -> None:
    """Wait for one of ``turns``: this thread holds it until ``give_turn_back()``."""
    turns.take()
    _held.turns = turns


def give_turn_back() -> None:
    """The turn this thread holds, if any, to the next in line."""
    turns = getattr(_held, "turns", None)
    if turns is not None:
        _held.turns = None
        turns.give_back()


@contextmanager
def turn(turns: Turns) -> Iterator[None]:
    take_turn(turns)
    try:
        yield
    finally:
        give_turn_back()


class Admission:
    """WSGI middleware: each request runs the app within a turn. A streamed answer's
    body is sent after the turn is given back."""

    def __init__(self, wsgi_app: Callable, size: int) -> None:
        self.wsgi_app = wsgi_app
        self.turns = Turns(size)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        with turn(self.turns):
            return self.wsgi_app(environ, start_response)


@contextmanager
def aside() -> Iterator[None]:
    """Around a wait on something outside the process (a run to finish, a provider to
    answer, a model, a sandbox): the thread's turn goes to the next in line meanwhile,
    and it queues again for one when the wait is over. In a thread holding no turn, or
    within another ``aside()``, it does nothing: a turn is given back once."""
    turns = getattr(_held, "turns", None)
    if turns is None:
        yield
        return
    give_turn_back()
    try:
        yield
    finally:
        take_turn(turns)
