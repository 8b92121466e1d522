"""Requests to addresses users choose (``http_request`` nodes), inside the outbound rules.

The outbound rules (docs/api.md, "The workflow definition"; SECURITY.md): only http and
https; a destination resolving to a loopback, private, link-local, unique-local, multicast
or unspecified address (or any other address that is not globally reachable) is refused
with ``blocked_destination`` unless ``HTTP_ALLOWED_HOSTS`` names its host or covers its
address.

The check sits where the connection is made (``GuardedBackend.connect_tcp``): the
name is resolved once, every address checked, and the socket connects to a checked
address, so a second lookup cannot answer differently (DNS rebinding). Redirects open
their connections through the same door, so each hop is checked too. TLS still
verifies the certificate against the host name (httpcore passes it as SNI).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore2
import httpx2

from .engine.attempts import AttemptFailed, asked_wait, attempt_until
from .engine.errors import ErrorCode, NodeError
from .engine.http_calls import HttpAnswer, HttpRequest
from .engine.stopping import Stopped, never

MAX_REDIRECTS = 5
USER_AGENT = "ai-workflows (http_request node)"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedDestination(Exception):
    """A destination the outbound rules refuse."""


@dataclass(frozen=True)
class Destinations:
    """The outbound rules: which host names and address ranges an operator opened."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Destinations:
        """``HTTP_ALLOWED_HOSTS``: comma-separated host names, addresses or CIDR ranges."""
        hosts, networks = set(), []
        for entry in (part.strip().lower() for part in (text or "").split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def check_url(self, url: str) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise BlockedDestination(f"only http and https URLs may be requested, not {scheme or 'this'!r}")

    def addresses(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, once each, if the rules allow all of them."""
        name = host.strip("[]").lower().rstrip(".")
        try:
            found = [ipaddress.ip_address(name)]
        except ValueError:
            try:
                infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise OSError(f"cannot resolve {host}: {exc.strerror}") from None
            found = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
        if name not in self.hosts:
            for address in found:
                why = _refused(address)
                if why and not any(address in network for network in self.networks):
                    raise BlockedDestination(f"{host} is {why} address ({address}); HTTP_ALLOWED_HOSTS can allow it")
        return [str(address) for address in found]


def _refused(address: IPAddress) -> str | None:
    """Why an address may not be reached from here, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        if embedded is not None:
            return _refused(embedded)
    for test, what in (
        ("is_unspecified", "an unspecified"),
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
    ):
        if getattr(address, test):
            return what
    if isinstance(address, ipaddress.IPv6Address) and address in ipaddress.ip_network("fc00::/7"):
        return "a unique-local"
    if address.is_private:
        return "a private"
    if not address.is_global:
        return "a non-public"
    return None


class GuardedBackend(httpcore2.SyncBackend):
    """Connects only to addresses the rules allow, resolving each name once."""

    def __init__(self, destinations: Destinations) -> None:
        self.destinations = destinations

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = self.destinations.addresses(host, port)
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc)) from None
        failure = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore2.ConnectError as exc:
                failure = exc
        raise failure or httpcore2.ConnectError(f"no address for {host}")


class AnswerTooLarge(Exception):
    """An answer longer than the bound the transport reads."""


class _Capped(httpx2.SyncByteStream):
    """An answer's bytes, as they come, up to ``limit``: a user's server cannot fill our memory."""

    def __init__(self, stream: httpx2.SyncByteStream, limit: int) -> None:
        self.stream, self.limit = stream, limit

    def __iter__(self):
        seen = 0
        for chunk in self.stream:
            seen += len(chunk)
            if seen > self.limit:
                raise AnswerTooLarge(f"the answer is larger than {self.limit} bytes")
            yield chunk

    def close(self) -> None:
        self.stream.close()


class GuardedTransport(httpx2.HTTPTransport):
    """Connects only where the outbound rules allow, and reads at most ``max_bytes`` of an answer."""

    def __init__(self, destinations: Destinations, max_bytes: int) -> None:
        super().__init__(trust_env=False)  # no proxy from the environment: it would connect for us, unchecked
        self.max_bytes = max_bytes
        self._pool = httpcore2.ConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(destinations),
        )

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        response.stream = _Capped(response.stream, self.max_bytes)
        return response


class HttpClient:
    """Sends ``http_request`` nodes' requests (``engine.http_calls.HttpGateway``)."""

    def __init__(self, destinations: Destinations, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.client = httpx2.Client(
            transport=GuardedTransport(destinations, max_bytes),
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            event_hooks={"request": [lambda outgoing: destinations.check_url(str(outgoing.url))]},  # every hop
            trust_env=False,
            headers={"user-agent": USER_AGENT},
        )

    def send(self, request: HttpRequest, *, deadline: float | None = None, stopped: Stopped = never) -> HttpAnswer:
        started = time.monotonic()
        answer, attempts = attempt_until(
            lambda timeout: self._attempt(request, timeout),
            retries=request.retries,
            timeout=request.timeout,
            deadline=deadline,
            stopped=stopped,
            what="this HTTP request",
        )
        return HttpAnswer(**answer, duration_ms=round((time.monotonic() - started) * 1000, 1), attempts=attempts)

    def _attempt(self, request: HttpRequest, timeout: float) -> dict:
        headers = dict(request.headers)
        if request.content_type and not any(name.lower() == "content-type" for name in headers):
            headers["content-type"] = request.content_type
        try:
            with self.client.stream(
                request.method,
                request.url,
                params=request.query or None,
                headers=headers,
                content=request.body,
                timeout=timeout,
            ) as response:
                return self._read(response)
        except BlockedDestination as exc:
            raise NodeError(ErrorCode.BLOCKED_DESTINATION, str(exc)) from None
        except AnswerTooLarge as exc:
            raise NodeError("resource_limit", str(exc)) from None
        except httpx2.TooManyRedirects:
            raise NodeError(ErrorCode.HTTP_ERROR, f"more than {MAX_REDIRECTS} redirects") from None
        except httpx2.TimeoutException:
            raise AttemptFailed(ErrorCode.TIMEOUT, f"no answer within {timeout:.3g} s", retryable=True) from None
        except (httpx2.TransportError, httpx2.InvalidURL, ValueError) as exc:
            raise AttemptFailed(ErrorCode.HTTP_ERROR, f"the request failed: {exc}", retryable=True) from None

    def _read(self, response: httpx2.Response) -> dict:
        """The answer, within the size bound (the transport's on the wire; this one once
        decompressed, so a small gzip cannot unfold past it); a 429 or 5xx is retryable."""
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise AnswerTooLarge(f"the answer is larger than {self.max_bytes} bytes")
        text = body.decode(response.encoding or "utf-8", errors="replace")
        if response.status_code == 429 or response.status_code >= 500:
            raise AttemptFailed(
                ErrorCode.HTTP_ERROR,
                f"{response.request.method} answered {response.status_code}: {text[:200]}",
                retryable=True,
                wait=asked_wait(response.headers),
                answer=_answer(response, text),  # what stands when no retry is left
            )
        return _answer(response, text)


def _answer(response: httpx2.Response, text: str) -> dict:
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    return {
        "status": response.status_code,
        "headers": {name.lower(): value for name, value in response.headers.items()},
        "text": text,
        "json": parsed,
    }


_clients_lock = threading.Lock()


def http_client_for(app) -> HttpClient:
    """One client (one connection pool) per app and process."""
    client = app.extensions.get("http_client")
    if client is None:
        with _clients_lock:
            client = app.extensions.get("http_client")
            if client is None:
                destinations = Destinations.parse(app.config["HTTP_ALLOWED_HOSTS"])
                client = app.extensions["http_client"] = HttpClient(destinations, app.config["MAX_NODE_OUTPUT_BYTES"])
    return client
