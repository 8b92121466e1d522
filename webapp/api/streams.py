"""An execution's events as Server-Sent Events (docs/api.md, "Streaming").

The answer reads the run's event log (``runs/events.py``) from where the client stands:
from the first event for a new listener (a late joiner gets what already happened, then
the rest), after ``Last-Event-ID`` for one that reconnects. It ends with
``execution_finished``, whose data is the execution as recorded (without its nodes).

Serving model (measured, ``bench/streams.py``, docs/benchmarks.md): an open stream holds one
of the web process's threads while it waits on the log (a blocked read: no CPU, no GIL),
but no turn among ``ACTIVE_REQUESTS``: the body is sent after the turn is given back
(``admission.py``). So streams cannot starve requests of the app, only of threads: each
process takes at most ``STREAM_SLOTS`` open streams (gunicorn's ``--threads`` is sized
above it, see the Procfile) and answers 503 with ``Retry-After`` past that.

What the log no longer holds (trimmed past ``STREAM_MAX_EVENTS``, expired, or written by
another web process in local mode) is made up from the database: the settled nodes as
``node_finished`` events (without ids), and ``execution_finished`` once the execution has
settled.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response, current_app, request
from redis.exceptions import RedisError

from ..engine.status import ACTIVE, EventKind
from ..errors import BadRequest, Unavailable
from ..extensions import db
from ..models import Execution
from ..runs.events import event_log
from .serializers import execution as serialize

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 2  # a full server's answer: streams end often (each with its run)
LAST_EVENT_ID = {
    "name": "Last-Event-ID",
    "in": "header",
    "required": False,
    "description": "Resume after this event (an EventSource sends it by itself when it reconnects).",
    "schema": {"type": "integer", "minimum": 0},
}
SETTLED_GRACE_SECONDS = 0.5  # how long an execution settled in the database may take to announce it
SNAPSHOT_FIELDS = ("node_id", "status", "output", "error", "usage")


class StreamSlots:
    """This process's open streams, at most ``size``: a slot is taken before anything
    starts (so a 503 starts no run) and given back when the answer is closed."""

    def __init__(self, size: int) -> None:
        self.size, self.open = size, 0
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            if self.open >= self.size:
                raise Unavailable(
                    f"This server has its {self.size} event streams open; try again shortly", RETRY_AFTER_SECONDS
                )
            self.open += 1

    def give_back(self) -> None:
        with self._lock:
            self.open -= 1


def stream_slots(app: Flask) -> StreamSlots:
    slots = app.extensions.get("stream_slots")
    if slots is None:
        slots = app.extensions.setdefault("stream_slots", StreamSlots(app.config["STREAM_SLOTS"]))
    return slots


def last_event_id() -> int:
    """The event to resume after, from the ``Last-Event-ID`` header (0: from the start)."""
    given = request.headers.get("Last-Event-ID")
    if given is None:
        return 0
    given = given.strip()  # an EventSource sends none rather than an empty one
    if not given.isdigit() or len(given) > 18:
        raise BadRequest("Last-Event-ID must be the number of an event of this stream")
    return int(given)


@contextmanager
def slot() -> Iterator[bool]:
    """A stream slot taken for what the block starts (a run to stream): given back if the
    block fails, else handed to ``event_stream(..., slot=True)``."""
    slots = stream_slots(current_app)
    slots.take()
    try:
        yield True
    except BaseException:
        slots.give_back()
        raise


def event_stream(execution_id: str, after: int = 0, slot: bool = False, *, hook: bool = False) -> Response:
    """The answer: events of ``execution_id`` (whose access the caller checked) after
    ``after``. ``slot``: taken already (``slot()``); else it is taken here. ``hook``: for
    whoever holds a webhook's token, who is told what the webhook answers and no more —
    node statuses and the model's text as it comes, not nodes' outputs, errors or usage,
    and at the end ``{execution_id, status, outputs}``."""
    app = current_app._get_current_object()
    slots = stream_slots(app)
    if not slot:
        slots.take()
    response = Response(
        _events(app, execution_id, after, hook),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},  # nginx: pass each event on at once
    )
    response.call_on_close(slots.give_back)
    return response


def _events(app: Flask, execution_id: str, after: int, hook: bool) -> Iterator[str]:
    events = event_log(app)
    quiet = app.config["STREAM_KEEPALIVE"]
    yield f": events of {execution_id}\n\n"  # the headers go out now, not with the first event
    wait, settled_at = 0.0, None
    while True:
        try:
            found = events.read(execution_id, after, wait)
        except RedisError as exc:  # away: the database still says how the run ends
            log.warning("reading the events of %s: %s", execution_id, exc)
            found = []
            time.sleep(min(quiet, 1.0))
        if found and found[0].id > after + 1:  # the log lost the start of what this client missed
            yield from _snapshot(app, execution_id, {e.data.get("node_id") for e in found}, hook)
        for event in found:
            if event.kind == EventKind.EXECUTION_FINISHED:
                yield from _last(app, execution_id, event.id, hook)
                return
            yield _format(event.kind, _told(event.kind, event.data, hook), event.id)
            after = event.id
        if found:
            wait = quiet
            continue
        # Quiet: keep the connection open, and end if the run settled with no word in the log.
        if settled_at is None and _settled(app, execution_id):
            settled_at = time.monotonic()
            wait = SETTLED_GRACE_SECONDS
            continue
        if settled_at is not None:
            if after == 0:
                yield from _snapshot(app, execution_id, set(), hook)
            yield from _last(app, execution_id, None, hook)
            return
        wait = quiet
        yield ": keep-alive\n\n"


def _format(kind: str, data: dict, event_id: int | None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _settled(app: Flask, execution_id: str) -> bool:
    """Whether it settled (or is gone: its workflow was deleted meanwhile)."""
    with app.app_context():
        execution = db.session.get(Execution, execution_id)
        return execution is None or execution.status not in ACTIVE


def _told(kind: str, data: dict, hook: bool) -> dict:
    """What a webhook's caller is told of a node's end: which, and how it ended."""
    if hook and kind == EventKind.NODE_FINISHED:
        return {"node_id": data.get("node_id"), "status": data.get("status")}
    return data


def _last(app: Flask, execution_id: str, event_id: int | None, hook: bool) -> Iterator[str]:
    """The last event: the execution as recorded, or as a webhook answers (none if it is gone)."""
    with app.app_context():
        execution = db.session.get(Execution, execution_id)
        if execution is None:
            body = None
        elif hook:
            body = {"execution_id": execution.id, "status": execution.status, "outputs": execution.outputs}
        else:
            body = serialize(execution, with_nodes=False)
    if body is not None:
        yield _format(EventKind.EXECUTION_FINISHED, body, event_id)


def _snapshot(app: Flask, execution_id: str, skip: set, hook: bool) -> Iterator[str]:
    """``node_finished`` for the nodes settled so far, from the database."""
    with app.app_context():
        execution = db.session.get(Execution, execution_id)
        nodes = serialize(execution)["nodes"] if execution is not None else []
    for node in nodes:
        if node["status"] not in ("pending", "running") and node["node_id"] not in skip:
            told = _told(EventKind.NODE_FINISHED, {key: node[key] for key in SNAPSHOT_FIELDS}, hook)
            yield _format(EventKind.NODE_FINISHED, told, None)
