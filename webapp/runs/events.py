"""A run's events, appended once and read by every listener: its event log.

What a run does (started, a node started, a piece of a model's text, a node finished,
finished) is appended to a log per execution, each event numbered 1, 2, 3… in order. A
reader (``api/streams.py``) reads the log from any point, so a late joiner replays what
already happened and a client that reconnects resumes after the last event it saw.

Where the log lives: in queue mode a Redis stream per execution (``XADD key 0-*`` numbers
the events atomically, whichever process appends: the worker running the run, or a web
process settling it by a cancel), read with ``XREAD BLOCK``, so a worker's events reach
every web process that has a listener, and no database row is written per chunk; in local
mode a log in this process's memory. Both keep at most ``STREAM_MAX_EVENTS`` (the oldest go
first) and are dropped ``STREAM_TTL`` seconds after their last event, or ``SETTLED_KEEP``
seconds after the run settles.

Streams over pub/sub (measured, ``bench/streams.py``): pub/sub would need a log beside it
for late joiners and resumes, and XREAD answers within the same fraction of a millisecond.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass

from flask import Flask
from redis import ConnectionPool, Redis
from redis.exceptions import RedisError

from ..connections import redis_connection
from ..engine.runner import NodeRecord
from ..engine.status import EventKind

log = logging.getLogger(__name__)
KEY = "execution-events:{}"


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    data: dict


class MemoryLog:
    """Local mode: the logs of this process's runs, in memory. Each log has its own
    condition: an event wakes the readers of its execution only (one condition for all
    woke every open stream at every event: 2.5× the p50 of sync executes with 200 open)."""

    def __init__(self, max_events: int, ttl: float) -> None:
        self.max_events, self.ttl = max_events, ttl
        self._logs: dict[str, _Kept] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def _kept(self, execution_id: str) -> _Kept:
        """Its log (under the lock), made empty if none yet: a reader may come first."""
        kept = self._logs.get(execution_id)
        if kept is None:
            kept = self._logs[execution_id] = _Kept(deque(maxlen=self.max_events), threading.Condition(self._lock))
            kept.touched = time.monotonic()
            self._sweep(kept.touched)
        return kept

    def append(self, execution_id: str, kind: str, data: dict) -> int:
        with self._lock:
            kept = self._kept(execution_id)
            kept.last_id += 1
            kept.events.append(Event(kept.last_id, kind, data))
            kept.touched = time.monotonic()
            kept.changed.notify_all()
            return kept.last_id

    def read(self, execution_id: str, after: int, wait: float) -> list[Event]:
        """The events after ``after``, waiting up to ``wait`` seconds for one."""
        until = time.monotonic() + wait
        with self._lock:
            kept = self._kept(execution_id)
            while kept.last_id <= after:
                left = until - time.monotonic()
                if left <= 0:
                    return []
                kept.changed.wait(left)
            first = kept.events[0].id  # ids are consecutive: the ones after ``after`` are a tail
            return list(itertools.islice(kept.events, max(0, after + 1 - first), None))

    def settled(self, execution_id: str) -> None:
        """Its run settled: the log goes SETTLED_KEEP seconds on (at the next sweep after)."""
        with self._lock:
            kept = self._logs.get(execution_id)
            if kept is not None:
                kept.touched = min(kept.touched, time.monotonic() - self.ttl + SETTLED_KEEP)

    def _sweep(self, now: float) -> None:
        if now - self._swept < 60:
            return
        self._swept = now
        for execution_id in [e for e, kept in self._logs.items() if now - kept.touched > self.ttl]:
            del self._logs[execution_id]


@dataclass
class _Kept:
    events: deque
    changed: threading.Condition
    last_id: int = 0
    touched: float = 0.0


# A settled run's log is kept this long for late joiners, not STREAM_TTL: a stream opened later
# answers from the database (every run's events, outputs and all, would otherwise fill memory).
SETTLED_KEEP = 60


class RedisLog:
    """Queue mode: a Redis stream per execution, shared by every process.

    A process's readers share one connection: a listener thread blocks in one ``XREAD``
    over every stream that someone here waits on, and hands what arrives to them (a stream
    each held open on the pool would take a connection apiece, and 200 of them left none
    for enqueueing runs). A reader that starts waiting wakes the listener through a wake-up
    stream of the process's own, so its stream is in the next ``XREAD`` at once."""

    def __init__(self, redis: Redis, max_events: int, ttl: int) -> None:
        self.redis, self.max_events, self.ttl = redis, max_events, ttl
        self._changed = threading.Condition()
        self._watched: dict[str, _Watch] = {}
        self._wake_key = KEY.format(f"wake:{uuid.uuid4().hex}")
        self._listener: threading.Thread | None = None
        self._connection: Redis | None = None

    def append(self, execution_id: str, kind: str, data: dict) -> int:
        key = KEY.format(execution_id)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, {"k": kind, "d": json.dumps(data)}, id="0-*", maxlen=self.max_events, approximate=True)
            pipe.expire(key, self.ttl)
            added, _ = pipe.execute()
        return _number(added)

    def settled(self, execution_id: str) -> None:
        self.redis.expire(KEY.format(execution_id), SETTLED_KEEP)

    def read(self, execution_id: str, after: int, wait: float) -> list[Event]:
        """The events after ``after``, waiting up to ``wait`` seconds for one."""
        found = _events(self.redis.xread({KEY.format(execution_id): f"0-{after}"}, count=1000))
        if found or wait <= 0:
            return found
        until = time.monotonic() + wait
        with self._changed:
            watch = self._watched.get(execution_id)
            if watch is None:
                watch = self._watched[execution_id] = _Watch(after)
                self._wake()
            watch.readers += 1
            try:
                while not watch.after(after):
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
                found = watch.after(after)
            finally:
                watch.readers -= 1
                if not watch.readers:
                    del self._watched[execution_id]
        if found and found[0].id > after + 1:  # more came than the listener keeps: read them all
            return self.read(execution_id, after, 0)
        return found

    def _wake(self) -> None:
        """Start the listener, or have it read again with the new stream among its keys."""
        if self._listener is None or not self._listener.is_alive():
            self._listener = threading.Thread(target=self._listen, name="event-listener", daemon=True)
            self._listener.start()
        else:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": 1}, maxlen=1).expire(self._wake_key, self.ttl).execute()

    def _listen(self) -> None:
        if self._connection is None:  # its own: an XREAD BLOCK holds a connection meanwhile
            self._connection = Redis(connection_pool=ConnectionPool(**self.redis.connection_pool.connection_kwargs))
        woken = "0-0"  # the wake-up stream's last entry seen: the first read returns at once
        while True:
            with self._changed:
                if not self._watched:
                    self._listener = None
                    return
                keys = {KEY.format(e): f"0-{w.last}" for e, w in self._watched.items()}
            try:
                answer = self._connection.xread({**keys, self._wake_key: woken}, count=1000, block=5000)
            except RedisError as exc:  # away: readers hear nothing meanwhile, then the database
                log.warning("listening for events: %s", exc)
                time.sleep(1.0)
                continue
            with self._changed:
                for key, entries in answer or []:
                    name = key.decode()
                    if name == self._wake_key:
                        woken = entries[-1][0].decode()
                        continue
                    watch = self._watched.get(name.removeprefix(KEY.format("")))
                    if watch is not None:
                        watch.add(_events([(key, entries)]))
                self._changed.notify_all()


class _Watch:
    """One execution's events as the listener brings them, for this process's readers."""

    KEEP = 1000  # the newest events kept for readers; one further behind reads the stream itself

    def __init__(self, after: int) -> None:
        self.last, self.readers = after, 0
        self.events: deque[Event] = deque(maxlen=self.KEEP)

    def add(self, events: list[Event]) -> None:
        self.events.extend(events)
        self.last = events[-1].id if events else self.last

    def after(self, after: int) -> list[Event]:
        return [event for event in self.events if event.id > after]


def _events(answer) -> list[Event]:
    return [
        Event(_number(entry_id), fields[b"k"].decode(), json.loads(fields[b"d"]))
        for _, entries in answer or []
        for entry_id, fields in entries
    ]


def _number(entry_id: bytes | str) -> int:
    """An entry's number: its id is ``0-<number>``."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[2])


def event_log(app: Flask) -> MemoryLog | RedisLog:
    """This app's log: one per app and process, Redis when the app runs on the queue."""
    found = app.extensions.get("event_log")
    if found is None:
        config = app.config
        redis = redis_connection(app)
        if redis is not None:
            found = RedisLog(redis, config["STREAM_MAX_EVENTS"], config["STREAM_TTL"])
        else:
            found = MemoryLog(config["STREAM_MAX_EVENTS"], config["STREAM_TTL"])
        found = app.extensions.setdefault("event_log", found)
    return found


class RunEvents:
    """One execution's side of its log: what the run appends. A log that cannot be
    written (Redis away) costs the listeners their events, never the run itself."""

    def __init__(self, app: Flask, execution_id: str) -> None:
        self.log, self.execution_id = event_log(app), execution_id
        self._warned = False

    def append(self, kind: EventKind, data: dict) -> None:
        try:
            self.log.append(self.execution_id, kind, data)
        except RedisError as exc:
            if not self._warned:
                self._warned = True
                log.warning("events of %s not published: %s", self.execution_id, exc)

    def started(self) -> None:
        self.append(EventKind.EXECUTION_STARTED, {"execution_id": self.execution_id})

    def node_started(self, node_id: str) -> None:
        self.append(EventKind.NODE_STARTED, {"node_id": node_id})

    def node_finished(self, record: NodeRecord) -> None:
        self.append(EventKind.NODE_FINISHED, node_finished(record))

    def finished(self, status: str) -> None:
        """The run settled: readers answer with the execution as it was recorded, and the
        log is kept only SETTLED_KEEP seconds more."""
        self.append(EventKind.EXECUTION_FINISHED, {"execution_id": self.execution_id, "status": status})
        with contextlib.suppress(RedisError):  # else it expires at STREAM_TTL
            self.log.settled(self.execution_id)

    def text_sink(self, node_id: str) -> NodeText:
        return NodeText(self, node_id)


@dataclass(frozen=True)
class NodeText:
    """A model node's streamed text, as ``text_chunk`` and ``text_reset`` events (a ``TextSink``)."""

    events: RunEvents
    node_id: str

    def chunk(self, text: str) -> None:
        self.events.append(EventKind.TEXT_CHUNK, {"node_id": self.node_id, "text": text})

    def restart(self, reason: str) -> None:
        self.events.append(EventKind.TEXT_RESET, {"node_id": self.node_id, "reason": reason})


def node_finished(record: NodeRecord) -> dict:
    """A settled node as its ``node_finished`` event tells it (the API's node usage shape)."""
    usage = record.usage
    return {
        "node_id": record.node_id,
        "status": record.status,
        "output": record.output,
        "error": record.error,
        "usage": {
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
            "total_tokens": usage.total_tokens if usage else None,
            "cost_usd": record.cost_usd,
        },
    }


def announce_settled(app: Flask, execution_id: str, status: str) -> None:
    """An execution settled from outside its run (a cancel, the reaper): its listeners stop."""
    RunEvents(app, execution_id).finished(status)
