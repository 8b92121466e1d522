"""Model calls: the ``openai`` client, the price table and the response cache.

``ModelGateway`` is what the engine's ``ai_model`` node talks to. It resolves the
model, answers from the cache when it can, otherwise calls ``chat.completions``
through the SDK, prices the usage, and maps failures to the engine's error codes.
Retries (429, 5xx, timeouts, with the SDK's backoff and the server's Retry-After)
are ours, not the SDK's: only we know the run's deadline and whether it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Protocol

import httpx2
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from .engine.attempts import AttemptFailed, asked_wait, attempt_until
from .engine.errors import ErrorCode, NodeError
from .engine.model_calls import ZERO_USAGE, ModelReply, ModelRequest, TextSink, ToolCall, Usage
from .engine.nodes.ai_model import parse_model_json
from .engine.stopping import Stopped, never
from .models.base import utcnow
from .models.cache import CachedResponse
from .outbound import AnswerTooLarge, BlockedDestination, Destinations, GuardedTransport, answer_within, bound_answers

if TYPE_CHECKING:
    import openai


# USD per 1M tokens (prompt, completion). MODEL_PRICES overrides or extends it.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}


class PriceTable:
    def __init__(self, overrides: dict | None = None) -> None:
        self.prices = dict(DEFAULT_PRICES)
        for model, price in (overrides or {}).items():
            if isinstance(price, dict):
                price = (price.get("prompt", 0), price.get("completion", 0))
            self.prices[model] = (float(price[0]), float(price[1]))

    def lookup(self, model: str) -> tuple[float, float] | None:
        """Exact name first, then the longest known prefix (dated snapshots such as
        ``gpt-4o-mini-2024-07-18`` cost what ``gpt-4o-mini`` costs)."""
        if model in self.prices:
            return self.prices[model]
        matches = [name for name in self.prices if model.startswith(name + "-")]
        return self.prices[max(matches, key=len)] if matches else None

    def cost(self, model: str, usage: Usage | None) -> tuple[float, bool]:
        """(cost in USD, whether the model's price is known). Unknown models cost 0."""
        price = self.lookup(model)
        if price is None or usage is None:
            return 0.0, price is not None
        return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1_000_000, True


class ResponseCache(Protocol):
    def get(self, key: str) -> dict | None: ...

    def put(self, key: str, value: dict, ttl: int) -> None: ...


class RedisCache:
    def __init__(self, redis) -> None:
        self.redis = redis

    def get(self, key: str) -> dict | None:
        raw = self.redis.get(f"modelcache:{key}")
        return json.loads(raw) if raw else None

    def put(self, key: str, value: dict, ttl: int) -> None:
        self.redis.set(f"modelcache:{key}", json.dumps(value), ex=ttl)


class DatabaseCache:
    """The cache table, used through SQLAlchemy Core on the engine directly: model
    calls run on pool threads, which have no Flask app context."""

    table = CachedResponse.__table__

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, key: str) -> dict | None:
        # One read in autocommit: no BEGIN and ROLLBACK round trips around it.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            row = conn.execute(
                select(self.table.c.value).where(self.table.c.key == key, self.table.c.expires_at > utcnow())
            ).first()
        return row.value if row else None

    def put(self, key: str, value: dict, ttl: int) -> None:
        expires = utcnow() + timedelta(seconds=ttl)
        with self.engine.begin() as conn:
            conn.execute(delete(self.table).where(self.table.c.expires_at <= utcnow()))
            changed = conn.execute(
                update(self.table).where(self.table.c.key == key).values(value=value, expires_at=expires)
            ).rowcount
            if not changed:
                conn.execute(insert(self.table).values(key=key, value=value, expires_at=expires))


def cache_key(model: str, request: ModelRequest, owner: str | None, endpoint: str = "default") -> str:
    """Whose answer it is is part of the key: one user's answers never reach another;
    and so is who answered (the server's endpoint, or a provider of theirs)."""
    payload = {
        "owner": owner,
        "endpoint": endpoint,
        "model": model,
        "messages": request.messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "json": request.json_mode,
        "tools": request.tools,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class ModelGateway:
    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        default_model: str,
        timeout: float,
        retries: int,
        prices: PriceTable,
        cache: ResponseCache | None,
        cache_ttl: int,
        max_answer_bytes: int,
        destinations: Destinations | None = None,
    ) -> None:
        self.default = Endpoint("default", _client(api_key, base_url, timeout), prices)
        self.default_model = default_model
        self.timeout, self.retries = timeout, retries
        self.cache, self.cache_ttl = cache, cache_ttl
        self.destinations = destinations or Destinations()  # where users' providers may be
        self.max_answer_bytes = max_answer_bytes  # what one of their answers may hold
        self._endpoints: dict[tuple, Endpoint] = {}
        self._endpoints_lock = threading.Lock()

    def endpoint_for(self, provider: ProviderSettings | None) -> Endpoint:
        """The server's endpoint, or a provider's (one client each, built once per version
        of its settings), connecting only where the outbound rules allow."""
        if provider is None:
            return self.default
        key = (provider.id, provider.version)
        with self._endpoints_lock:
            found = self._endpoints.get(key)
            if found is None:
                client = _client(
                    provider.api_key, provider.base_url, self.timeout, self.destinations, self.max_answer_bytes
                )
                found = self._endpoints[key] = Endpoint(provider.id, client, PriceTable(provider.prices))
        return found

    def complete(
        self,
        request: ModelRequest,
        *,
        deadline: float | None = None,
        stopped: Stopped = never,
        owner: str | None = None,
        provider: ProviderSettings | None = None,
        text: TextSink | None = None,
    ) -> ModelReply:
        """``owner``: the user whose run asks; the cache is theirs alone. ``provider``:
        one of theirs to ask instead of the server's endpoint. ``text``: stream the answer
        into it as it comes (a cached answer goes in as one piece)."""
        model = request.model or self.default_model
        endpoint = self.endpoint_for(provider)
        key = cache_key(model, request, owner, endpoint.id) if self.cache is not None and request.cache else None
        if key is not None:
            hit = self._cache_get(key)
            if hit is not None:
                if text is not None:
                    text.chunk(hit["text"])
                return ModelReply(
                    text=hit["text"],
                    model=hit["model"],
                    usage=ZERO_USAGE,
                    cost_usd=0.0,
                    cost_saved_usd=hit.get("cost_usd", 0.0),
                    cached=True,
                    attempts=0,
                )
        reply = self._call(endpoint, model, request, deadline, stopped, text)
        if key is not None and _cacheable(reply, request):
            self._cache_put(key, {"text": reply.text, "model": reply.model, "cost_usd": reply.cost_usd})
        return reply

    def for_owner(self, owner: str, providers: dict[str, ProviderSettings] | None = None) -> OwnedGateway:
        return OwnedGateway(self, owner, providers or {})

    def _call(
        self, endpoint: Endpoint, model: str, request: ModelRequest, deadline, stopped: Stopped, text: TextSink | None
    ) -> ModelReply:
        """Attempts with backoff, within the run's time (``attempts.attempt_until``). An
        attempt after one that streamed some text first says the text starts over."""
        sink = _Restartable(text) if text is not None and not request.tools else None

        def attempt(timeout: float) -> ModelReply:
            if sink is not None:
                sink.begin()
            return self._attempt(endpoint, model, request, timeout, sink)

        reply, attempts = attempt_until(
            attempt,
            retries=self.retries if request.retries is None else request.retries,
            timeout=request.timeout or self.timeout,
            deadline=deadline,
            stopped=stopped,
            what="this model call",
        )
        reply.attempts = attempts
        return reply

    def _attempt(
        self, endpoint: Endpoint, model: str, request: ModelRequest, timeout: float, sink: _Restartable | None
    ) -> ModelReply:
        """One request, no retry of the SDK's own: failures come back as ``AttemptFailed``."""
        import openai

        params = {"model": model, "messages": [_message(m) for m in request.messages]}
        if request.tools:
            params["tools"] = list(request.tools)
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.json_mode:
            params["response_format"] = {"type": "json_object"}
        try:
            with answer_within(timeout):  # the whole answer, not each read of it
                if sink is None:
                    return self._reply(
                        endpoint, model, endpoint.client.chat.completions.create(**params, timeout=timeout)
                    )
                stream = endpoint.client.chat.completions.create(
                    **params, stream=True, stream_options={"include_usage": True}, timeout=timeout
                )
                return self._reply(endpoint, model, self._streamed(stream, sink))
        except NodeError:
            raise
        except BlockedDestination as exc:  # a provider at an address the outbound rules refuse
            raise NodeError(ErrorCode.BLOCKED_DESTINATION, str(exc)) from None
        except AnswerTooLarge as exc:  # a provider answering more than a node may hold
            raise NodeError(ErrorCode.RESOURCE_LIMIT, str(exc)) from None
        except openai.RateLimitError as exc:
            raise _failed(ErrorCode.RATE_LIMITED, f"the model server is rate limiting: {_reason(exc)}", exc) from None
        except (openai.APITimeoutError, httpx2.TimeoutException):  # before the answer, or in the middle of it
            raise AttemptFailed(
                ErrorCode.TIMEOUT, f"no answer from the model within {timeout:.3g} s", retryable=True
            ) from None
        except openai.APIStatusError as exc:
            raise _failed(
                ErrorCode.MODEL_ERROR, f"the model server answered {exc.status_code}: {_reason(exc)}", exc
            ) from None
        except openai.APIConnectionError as exc:
            blocked = blocked_cause(exc)
            if blocked is not None:
                raise NodeError(ErrorCode.BLOCKED_DESTINATION, str(blocked)) from None
            too_large = cause_of(exc, AnswerTooLarge)
            if too_large is not None:
                raise NodeError(ErrorCode.RESOURCE_LIMIT, str(too_large)) from None
            raise AttemptFailed(
                ErrorCode.MODEL_ERROR, f"could not reach the model server: {exc}", retryable=True
            ) from None
        except openai.APIError as exc:  # an error event in the middle of a streamed answer
            raise AttemptFailed(ErrorCode.MODEL_ERROR, f"the model server broke off: {exc}", retryable=True) from None
        except httpx2.TransportError as exc:  # the connection ended in the middle of a streamed answer
            raise AttemptFailed(
                ErrorCode.MODEL_ERROR, f"the model server's answer broke off: {exc}", retryable=True
            ) from None
        except Exception as exc:  # malformed bodies surface as validation or decode errors
            message = f"unreadable answer from the model server: {type(exc).__name__}: {exc}"
            raise AttemptFailed(ErrorCode.MODEL_ERROR, message) from None

    def _streamed(self, stream, sink: _Restartable) -> StreamedAnswer:
        """A streamed answer read to its end, each piece handed on as it comes; held to
        what a node may keep, as a whole answer is."""
        answer = StreamedAnswer()
        with stream:
            for chunk in stream:
                answer.model = chunk.model or answer.model
                if chunk.usage is not None:
                    answer.usage = chunk.usage
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if not piece:
                    continue
                answer.pieces.append(piece)
                answer.size += len(piece.encode())
                if answer.size > self.max_answer_bytes:
                    raise NodeError(
                        ErrorCode.RESOURCE_LIMIT,
                        f"the model's answer is over {self.max_answer_bytes:,} bytes, the limit of a node's output",
                    )
                sink.chunk(piece)
        return answer

    def _reply(self, endpoint: Endpoint, model: str, completion) -> ModelReply:
        if not completion.choices:
            raise NodeError(ErrorCode.MODEL_ERROR, "the model server answered with no choices")
        usage = None
        if completion.usage is not None and completion.usage.prompt_tokens is not None:
            u = completion.usage
            usage = Usage(
                u.prompt_tokens,
                u.completion_tokens or 0,
                u.total_tokens or u.prompt_tokens + (u.completion_tokens or 0),
            )
        answered_by = completion.model or model
        cost, known = endpoint.prices.cost(answered_by, usage)
        if not known and answered_by != model:
            cost, known = endpoint.prices.cost(model, usage)
        message = completion.choices[0].message
        calls = tuple(
            ToolCall(call.id, call.function.name, call.function.arguments or "")
            for call in message.tool_calls or ()
            if getattr(call, "function", None) is not None  # a function call; custom tools are never declared
        )
        return ModelReply(
            text=message.content or "",
            model=answered_by,
            usage=usage,
            cost_usd=cost,
            price_known=known,
            tool_calls=calls,
        )

    def _cache_get(self, key: str) -> dict | None:
        try:
            return self.cache.get(key)
        except Exception:  # a cache outage costs a model call, never a failed node
            return None

    def _cache_put(self, key: str, value: dict) -> None:
        with contextlib.suppress(Exception):  # not cached this time; the answer itself is fine
            self.cache.put(key, value, self.cache_ttl)


def _message(message) -> dict:
    """A request's message as the API takes it: (role, content), or already whole."""
    if isinstance(message, dict):
        return message
    role, content = message
    return {"role": role, "content": content}


def _failed(code: str, message: str, status_error) -> AttemptFailed:
    """A failure the server answered: it says whether to retry, and may say when."""
    response = status_error.response
    return AttemptFailed(code, message, retryable=_should_retry(response), wait=asked_wait(response.headers))


def _should_retry(response) -> bool:
    """The SDK's rule: the server may say so; else timeouts, conflicts, 429 and 5xx."""
    said = response.headers.get("x-should-retry")
    if said in ("true", "false"):
        return said == "true"
    return response.status_code in (408, 409, 429) or response.status_code >= 500


class _Restartable:
    """A node's text sink across attempts: an attempt that begins after another streamed
    some text says so first (``text_reset``), so the pieces seen add up to the answer."""

    def __init__(self, sink: TextSink) -> None:
        self.sink, self.sent, self.attempt = sink, False, 0

    def begin(self) -> None:
        self.attempt += 1
        if self.sent:
            self.sink.restart(f"attempt {self.attempt} starts the answer over")
            self.sent = False

    def chunk(self, text: str) -> None:
        self.sent = True
        self.sink.chunk(text)


@dataclass
class StreamedAnswer:
    """A streamed answer put back together, shaped as a completion is (``_reply`` reads both)."""

    pieces: list[str] = field(default_factory=list)
    size: int = 0
    model: str | None = None
    usage: object = None

    @property
    def choices(self) -> list:
        message = SimpleNamespace(content="".join(self.pieces), tool_calls=None)
        return [SimpleNamespace(message=message)]


@dataclass(frozen=True)
class ProviderSettings:
    """One of a user's model providers, as a run uses it (its key decrypted)."""

    id: str
    name: str
    base_url: str
    api_key: str | None
    prices: dict
    version: str  # changes when the provider does: its client is built again


@dataclass(frozen=True)
class Endpoint:
    """Where model calls go: the server's settings or a provider, with its prices."""

    id: str
    client: object
    prices: PriceTable


@dataclass(frozen=True)
class OwnedGateway:
    """The gateway as one user's runs see it (``ModelGateway.for_owner``): their cache,
    and their providers by name; a name they have no provider for is the server's."""

    gateway: ModelGateway
    owner: str
    providers: dict[str, ProviderSettings]

    def complete(self, request: ModelRequest, **call) -> ModelReply:
        provider = self.providers.get(request.provider) if request.provider else None
        return self.gateway.complete(request, owner=self.owner, provider=provider, **call)


def _client(
    api_key: str | None,
    base_url: str | None,
    timeout: float,
    guarded_by: Destinations | None = None,
    max_bytes: int = 0,
):
    """An openai client that retries nothing itself (``attempt_until`` does). A user's
    provider connects through the outbound rules and is read up to ``max_bytes`` (asked not
    to compress); the server's own endpoint is trusted, but its answers too end at their
    time (``outbound.answer_within``)."""
    import openai  # here: a web process in queue mode never calls a model, and openai costs 20+ MB

    if guarded_by is not None:
        transport = GuardedTransport(guarded_by, max_bytes)
        http_client = httpx2.Client(
            transport=transport, trust_env=False, timeout=timeout, headers={"accept-encoding": "identity"}
        )
    else:
        http_client = bound_answers(openai.DefaultHttpxClient(timeout=timeout))
    # Local OpenAI-compatible servers (Ollama, vLLM) want no key, but the SDK
    # refuses to start without one; OpenAI itself will answer 401 clearly.
    return openai.OpenAI(
        api_key=api_key or "not-set", base_url=base_url, timeout=timeout, max_retries=0, http_client=http_client
    )


def cause_of(exc: BaseException | None, kind: type[Exception]):
    """The ``kind`` of exception a wrapped error (the SDK's) came from, if any."""
    while exc is not None:
        if isinstance(exc, kind):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def blocked_cause(exc: BaseException) -> BlockedDestination | None:
    """The outbound rules' refusal, if that is what a connection error came from."""
    return cause_of(exc, BlockedDestination)


def _cacheable(reply: ModelReply, request: ModelRequest) -> bool:
    """Never cache an answer the node will reject, or a retry would meet it again; nor a
    request for tool calls (the cache keeps text)."""
    if reply.tool_calls:
        return False
    if not request.json_mode:
        return True
    try:
        parse_model_json(reply.text)
    except NodeError:
        return False
    return True


def _reason(exc: openai.APIStatusError) -> str:
    body = exc.body.get("error", exc.body) if isinstance(exc.body, dict) else None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:300]
    return str(exc.message)[:300]


_gateway_lock = threading.Lock()


def gateway_for(app) -> ModelGateway:
    """One gateway (one HTTP connection pool) per app and process."""
    gateway = app.extensions.get("model_gateway")
    if gateway is None:
        with _gateway_lock:
            gateway = app.extensions.get("model_gateway")
            if gateway is None:
                gateway = app.extensions["model_gateway"] = _build(app)
    return gateway


def _build(app) -> ModelGateway:
    from .connections import redis_connection
    from .extensions import db

    config = app.config
    cache = None
    if config["CACHE_ENABLED"]:
        redis = redis_connection(app)
        cache = RedisCache(redis) if redis is not None else DatabaseCache(db.engine)
    return ModelGateway(
        api_key=config["OPENAI_API_KEY"],
        base_url=config["OPENAI_BASE_URL"],
        default_model=config["DEFAULT_MODEL"],
        timeout=config["MODEL_TIMEOUT"],
        retries=config["MODEL_RETRIES"],
        prices=PriceTable(config["MODEL_PRICES"]),
        cache=cache,
        cache_ttl=config["CACHE_TTL"],
        destinations=Destinations.parse(config["HTTP_ALLOWED_HOSTS"]),
        max_answer_bytes=config["MAX_NODE_OUTPUT_BYTES"],
    )
