"""A run's place among its owner's ``MAX_RUNNING_PER_USER``, and lending it to its children.

Executions a run starts itself (``workflow`` nodes, map items of them, agent tools) claim
a place as every run does (``fairshare.py``), so no nesting multiplies a user's share: at
most ``MAX_RUNNING_PER_USER`` runs of one user compute at once, at any depth. A run whose
work in flight is only its own children lends its place to them meanwhile (marked
``lending``, it is not counted): else four parents waiting on children that wait for a
place would hold every place for good. Every place is held by a run that computes, and
each of those ends or lends, so children always start.

A run takes its place back (waiting for one if none is free) before its own next model
call while a child of it runs, and when its last child ends, before the run that child's
end woke is dispatched: what it was doing goes on first.

Waiters (a child run's claim, a run taking its place back) look again whenever a place is
freed in this process (``freed()``), and every ``POLL_SECONDS`` for places freed elsewhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from flask import Flask

from ..engine.model_calls import ModelGateway, ModelReply, ModelRequest
from ..engine.stopping import Stopped, never
from ..outages import ride_out
from . import fairshare

POLL_SECONDS = 0.25
_freed = threading.Condition()


def freed() -> None:
    """A place was freed in this process (a run ended or lent its place): waiters look again."""
    with _freed:
        _freed.notify_all()


def wait_for_room(app: Flask, user_id: str, cap: int, stopped: Callable[[], bool]) -> bool:
    """Until the owner may hold one more place (True) or ``stopped()`` (False)."""
    while not stopped():
        with _freed:
            _freed.wait(POLL_SECONDS)
        with app.app_context():
            if ride_out(lambda: fairshare.has_room(user_id, cap), what="looking for a place", window=_window(app)):
                return True
    return False


class Place:
    """The place of one running execution: counted, or lent while it waits only on its children."""

    def __init__(self, app: Flask, execution_id: str, user_id: str) -> None:
        self.app, self.execution_id, self.user_id = app, execution_id, user_id
        self.cap = app.config["MAX_RUNNING_PER_USER"]
        self.lock = threading.Lock()  # held through a wait for room: the run's other changes queue behind it
        self.children = 0  # child runs in flight
        self.own = 0  # its own model calls in flight
        self.lent = False

    def lent_to_child(self, stopped: Stopped = never) -> AbstractContextManager:
        """Around a child run of this one."""
        return self._while(stopped, children=1)

    def held(self, stopped: Stopped = never) -> AbstractContextManager:
        """Around the run's own work (a model call): with its place, taken back first if lent."""
        return self._while(stopped, own=1)

    @contextmanager
    def _while(self, stopped: Stopped, *, children: int = 0, own: int = 0) -> Iterator[None]:
        self._change(children=children, own=own, stopped=stopped)
        try:
            yield
        finally:
            self._change(children=-children, own=-own, stopped=stopped)

    def _change(self, *, children: int = 0, own: int = 0, stopped: Stopped) -> None:
        with self.lock:
            self.children += children
            self.own += own
            lend = self.children > 0 and self.own == 0
            if lend and not self.lent:
                self._in_app(lambda: fairshare.lend(self.execution_id), "lending a place")
                self.lent = True
                freed()
            elif self.lent and not lend:
                self.lent = not self._take_back(stopped)

    def _take_back(self, stopped: Stopped) -> bool:
        """Whether it has its place again; False only if the run stopped while waiting."""
        take = lambda: fairshare.take_back(self.execution_id, self.user_id, self.cap)  # noqa: E731
        while not self._in_app(take, "taking a place back"):
            if not wait_for_room(self.app, self.user_id, self.cap, stopped):
                return False
        return True

    def _in_app(self, work, what: str) -> Any:
        with self.app.app_context():  # a node's thread: its own session
            return ride_out(work, what=f"{what} ({self.execution_id})", window=_window(self.app))


class PlacedModels:
    """A run's model gateway: each call made with the run's place held (``Place.held``)."""

    def __init__(self, gateway: ModelGateway, place: Place) -> None:
        self.gateway, self.place = gateway, place

    def complete(self, request: ModelRequest, **call: Any) -> ModelReply:
        with self.place.held(call.get("stopped", never)):
            return self.gateway.complete(request, **call)


def _window(app: Flask) -> float:
    return app.config["DATABASE_OUTAGE_WINDOW"]
