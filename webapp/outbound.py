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

An answer ends at its attempt's time for the whole of it (``answer_within``): every
connect, TLS handshake, read and write on these connections waits only for what is
left, so a server trickling a byte at a time cannot hold one past it (a timeout per
read would let it). Model calls, to the server's endpoint or a user's provider, go
through the same streams.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
# IPv6 forms that carry an IPv4 address, which is what such an address reaches (each
# translator or tunnel delivers to it): judged by that address.
_COMPATIBLE = ipaddress.ip_network("::/96")  # ::a.b.c.d (deprecated; some stacks still route it)
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052's well-known prefix
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a local prefix of /48 to /96
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
    """Why an address may not be reached from here, or None for a public one. An IPv6
    address that carries an IPv4 one is judged by it (by each, if it carries two)."""
    if isinstance(address, ipaddress.IPv6Address):
        for embedded in carried_ipv4(address):
            why = _refused(embedded)
            if why:
                return why
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


def carried_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: mapped, compatible and translated
    (the last 32 bits), 6to4 (bits 16-47), NAT64 (the last 32 bits of 64:ff9b::/96; in
    the local 64:ff9b:1::/48 every place RFC 6052 allows, since its prefix length is the
    operator's), and Teredo (the server, and the client with its bits inverted)."""
    value = int(address)
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if (address in _COMPATIBLE and value > 1) or address in _TRANSLATED or address in _NAT64:  # not :: or ::1
        return [ipaddress.IPv4Address(value & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if address in _LOCAL_NAT64:
        return [ipaddress.IPv4Address(_bits(value, start)) for start in _RFC6052_PLACES]
    return []


# Where RFC 6052 puts the IPv4 address for prefixes of /96, /64, /56 and /48 (the likeliest
# first, so a refusal names it), counted in the 120 bits left once bits 64-71 (always zero) go.
_RFC6052_PLACES = (88, 64, 56, 48)


def _bits(value: int, start: int) -> int:
    """32 bits of an IPv6 address's ``value`` from ``start``, bits 64-71 left out."""
    usable = (value >> 64) << 56 | (value & ((1 << 56) - 1))
    return (usable >> (120 - start - 32)) & 0xFFFFFFFF


# -- a deadline for the whole answer -------------------------------------------------------------

_answer_deadline: ContextVar[float | None] = ContextVar("answer_deadline", default=None)
_WRITE_PIECE = 64 * 1024  # a body is written in pieces, each given only the time left


@contextmanager
def answer_within(seconds: float) -> Iterator[None]:
    """Calls made in this block (this thread) end within ``seconds``, whatever their
    server sends: each network wait gets only the time left of it."""
    token = _answer_deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _answer_deadline.reset(token)


def _time_left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the answer's time; ``error`` once none is."""
    deadline = _answer_deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the answer took longer than its time")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore2.NetworkStream):
    """A connection whose every wait ends by the answer's deadline (``answer_within``)."""

    def __init__(self, stream: httpcore2.NetworkStream) -> None:
        self.stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, _time_left(timeout, httpcore2.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        while view:
            self.stream.write(bytes(view[:_WRITE_PIECE]), _time_left(timeout, httpcore2.WriteTimeout))
            view = view[_WRITE_PIECE:]

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> DeadlineStream:
        left = _time_left(timeout, httpcore2.ConnectTimeout)
        return DeadlineStream(self.stream.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str):
        return self.stream.get_extra_info(info)


class DeadlineBackend(httpcore2.SyncBackend):
    """Opens connections whose waits end by the answer's deadline."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        left = _time_left(timeout, httpcore2.ConnectTimeout)
        return DeadlineStream(super().connect_tcp(host, port, left, local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        left = _time_left(timeout, httpcore2.ConnectTimeout)
        return DeadlineStream(super().connect_unix_socket(path, left, socket_options))


def bound_answers(client: httpx2.Client) -> httpx2.Client:
    """``client`` (as the openai SDK builds it, proxies from the environment included)
    with every connection it opens held to the answer's deadline."""
    for transport in (client._transport, *client._mounts.values()):
        pool = getattr(transport, "_pool", None)
        if pool is not None:
            pool._network_backend = DeadlineBackend()
    return client


# -- where connections may go ---------------------------------------------------------------------


class GuardedBackend(DeadlineBackend):
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
            with (
                answer_within(timeout),
                self.client.stream(
                    request.method,
                    request.url,
                    params=request.query or None,
                    headers=headers,
                    content=request.body,
                    timeout=timeout,
                ) as response,
            ):
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
