"""Reading an execution's Server-Sent Events as they arrive, in tests and the bench: each
event with the moment it came, and a bound on how long a test waits for one."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Received:
    id: int | None
    event: str
    data: dict
    at: float  # time.monotonic() when it arrived


def parse(blocks: Iterable[bytes], clock=time.monotonic) -> Iterator[Received]:
    """The events in a stream's body, as its chunks arrive (comments skipped)."""
    buffer = ""
    for chunk in blocks:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields: dict[str, str] = {}
            for line in block.split("\n"):
                if line and not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
            if "event" in fields:
                event_id = int(fields["id"]) if "id" in fields else None
                yield Received(event_id, fields["event"], json.loads(fields["data"]), clock())


class Stream:
    """A test client's streamed answer (``buffered=False``), read on a thread of its own so
    that waiting for the next event is bounded."""

    def __init__(self, response, timeout: float = 20.0) -> None:
        self.response, self.timeout = response, timeout
        self.events: list[Received] = []
        self._arrived: queue.Queue = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in parse(self.response.response):
                if self._closing.is_set():
                    break
                self._arrived.put(event)
        except Exception as exc:  # handed to the test
            self._arrived.put(exc)
        self._arrived.put(None)
        self.response.close()  # here: the body's generator may be running only on this thread

    def next(self) -> Received | None:
        """The next event; None once the stream ended."""
        item = self._arrived.get(timeout=self.timeout)
        if isinstance(item, Exception):
            raise item
        if item is not None:
            self.events.append(item)
        return item

    def until(self, predicate) -> Received:
        while True:
            event = self.next()
            assert event is not None, f"the stream ended before the awaited event; got {self.events}"
            if predicate(event):
                return event

    def rest(self) -> list[Received]:
        """Every event up to the end of the stream."""
        while self.next() is not None:
            pass
        return self.events

    def close(self) -> None:
        """Hang up: the answer is closed once its next write finds nobody (as a server finds out)."""
        self._closing.set()


def text_of(events: list[Received], node_id: str) -> str:
    """A node's text as a listener puts it together: the chunks since the last reset."""
    pieces: list[str] = []
    for event in events:
        if event.data.get("node_id") != node_id:
            continue
        if event.event == "text_reset":
            pieces = []
        elif event.event == "text_chunk":
            pieces.append(event.data["text"])
    return "".join(pieces)
