"""The engine's side of an HTTP request (the ``http_request`` node): what it asks
for and what it gets back.

The engine does not know how the request is made; the application passes in
something that satisfies ``HttpGateway`` (``webapp/outbound.py``), which also
decides where requests may go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .stopping import Stopped, never


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    query: dict[str, str]
    timeout: float  # the node's options give these (their defaults are declared there)
    retries: int
    body: bytes | None = None
    content_type: str | None = None  # the body's, when the node chose it (JSON)


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]  # lower-case names
    text: str
    json: Any  # the parsed body, or None
    duration_ms: float
    attempts: int = 1


class HttpGateway(Protocol):
    def send(self, request: HttpRequest, *, deadline: float | None = None, stopped: Stopped = never) -> HttpAnswer:
        """Answer the request or raise ``NodeError``: ``blocked_destination`` for an
        address the rules refuse (at every redirect too), ``timeout``, ``http_error``
        for a network failure, ``resource_limit`` for an answer over the size bound.
        Retries network failures, 429 and 5xx up to ``request.retries`` times; no
        attempt outlives ``deadline`` and none begins once ``stopped()``."""
