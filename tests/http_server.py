"""A small HTTP API on loopback for the ``http_request`` node's tests.

Paths (any method):

    /echo              the request as JSON: method, path, query, headers (lower-case), body
    /status/N          answers N with a JSON body {"status": N}
    /flaky/KEY/N       answers 503 (Retry-After: 0) the first N times for KEY, then 200
    /redirect?to=URL   302 to URL           /slow?s=1.5   answers after 1.5 s
    /big?n=BYTES       a body of BYTES bytes               /text   a plain-text body
    /page/SLUG         an HTML article                     /company?domain=D   JSON about D (404 for *.invalid)
    /search?q=WORDS    JSON search results, each linking to a /page
    /orders/ID         an order as JSON (404 unless ID starts with A)
    /drip?every=0.5&n=40[&head=1]   a 200 of n bytes, one byte every 0.5 s (``head``: the
                       status line and headers too), until sent or the client hangs up

Every request is kept in ``calls`` (method, path), in order of arrival;
``most_in_flight`` is the most ``/slow`` requests answered at once; ``drips`` holds
each trickled answer's ``Trickle`` (how much went out, and when the client hung up).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from tests.waiting import eventually


@dataclass
class Trickle:
    """One answer sent a byte at a time: bytes sent, and seconds from its start until
    the client closed the connection (None: it never did before the end)."""

    started: float
    sent: int = 0
    closed_after: float | None = None


def trickle(connection: socket.socket, data: bytes, every: float) -> Trickle:
    """Send ``data`` one byte every ``every`` seconds, watching between bytes for the
    client to hang up (the socket turns readable and reads empty)."""
    record = Trickle(started=time.monotonic())
    for byte in data:
        try:
            connection.sendall(bytes([byte]))
        except OSError:
            break
        record.sent += 1
        if record.sent == len(data):
            return record  # all of it went: whatever the client does next is not hanging up early
        readable, _, _ = select.select([connection], [], [], every)
        if readable and _hung_up(connection):
            break
    record.closed_after = time.monotonic() - record.started
    return record


def trickles_ended(server, count: int = 1) -> list[Trickle]:
    """``server.drips`` once ``count`` trickled answers have ended (the server notes a
    hang-up as it sees it, just after the client's call returns)."""
    return eventually(
        lambda: list(server.drips), until=lambda seen: len(seen) >= count, timeout=30, what="a trickled answer to end"
    )


def _hung_up(connection: socket.socket) -> bool:
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class ApiServer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.drips: list[Trickle] = []
        self.failures: dict[str, int] = {}
        self.in_flight = self.most_in_flight = 0  # requests being answered at once, and the most seen
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def start(self) -> ApiServer:
        threading.Thread(target=self.httpd.serve_forever, name="api-server", daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, method: str, target: str, headers: dict, body: bytes) -> tuple[int, bytes, dict]:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query))
        steps = parts.path.strip("/").split("/")
        with self.lock:
            self.calls.append((method, parts.path))
        if steps[0] == "status":
            return int(steps[1]), _json({"status": int(steps[1])}), {}
        if steps[0] == "flaky":
            with self.lock:
                seen = self.failures[steps[1]] = self.failures.get(steps[1], 0) + 1
            if seen <= int(steps[2]):
                return 503, b"try again", {"Retry-After": "0"}
            return 200, _json({"attempt": seen}), {}
        if steps[0] == "redirect":
            return 302, b"", {"Location": query["to"]}
        if steps[0] == "slow":
            with self.lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            time.sleep(float(query.get("s", "1")))
            with self.lock:
                self.in_flight -= 1
            return 200, _json({"slept": float(query.get("s", "1")), "path": parts.path}), {}
        if steps[0] == "big":
            return 200, b"x" * int(query["n"]), {"Content-Type": "text/plain"}
        if steps[0] == "text":
            return 200, b"plain words", {"Content-Type": "text/plain"}
        if steps[0] == "page":  # an article, for the catalogue's web templates
            title = steps[1].replace("-", " ").title()
            html = f"<html><head><title>{title}</title><script>track()</script></head><body><nav>Home</nav>"
            html += f"<h1>{title}</h1><p>{title} is explained here in three short facts.</p></body></html>"
            return 200, html.encode(), {"Content-Type": "text/html; charset=utf-8"}
        if steps[0] == "search":  # a search API, for the research agent template
            slug = "-".join(query.get("q", "").lower().split()[:4]) or "nothing"
            result = {"title": slug.replace("-", " ").title(), "url": self.url(f"/page/{slug}"), "snippet": "Facts."}
            return 200, _json({"query": query.get("q", ""), "results": [result]}), {}
        if steps[0] == "orders" and len(steps) > 1:  # an order lookup, for the support agent template
            if not steps[1].startswith("A"):
                return 404, _json({"error": f"no order {steps[1]}"}), {}
            return 200, _json({"order_id": steps[1], "status": "shipped", "carrier": "DHL", "eta": "2026-12-09"}), {}
        if steps[0] == "company":  # a company lookup, for the lead enrichment template
            domain = query.get("domain", "")
            if domain.endswith(".invalid"):
                return 404, _json({"error": "unknown domain"}), {}
            return 200, _json({"domain": domain, "employees": 120, "industry": "logistics"}), {}
        echoed = {
            "method": method,
            "path": parts.path,
            "query": query,
            "headers": {k.lower(): v for k, v in headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        return 200, _json(echoed), {"X-Served-By": "api-server"}


def _json(value) -> bytes:
    return json.dumps(value).encode()


def _handler_for(server: ApiServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if urlsplit(self.path).path == "/drip":
                self._drip(dict(parse_qsl(urlsplit(self.path).query)))
                return
            status, payload, headers = server.answer(self.command, self.path, dict(self.headers), body)
            self.send_response(status)
            headers.setdefault("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _drip(self, query: dict) -> None:
            with server.lock:
                server.calls.append((self.command, "/drip"))
            size, every = int(query.get("n", "40")), float(query.get("every", "0.5"))
            head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n\r\n".encode()
            if not query.get("head"):
                self.connection.sendall(head)
                head = b""
            record = trickle(self.connection, head + b"x" * size, every)
            with server.lock:
                server.drips.append(record)
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 - http.server names them

        def log_message(self, *args) -> None:
            pass

    return Handler
