"""The engine's side of a model call: what it asks for and what it gets back.

The engine does not know how the call is made (SDK, cache, prices); the application
passes in something that satisfies ``ModelGateway`` (``webapp/llm.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .stopping import Stopped, never


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
        )

    def as_dict(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


ZERO_USAGE = Usage(0, 0, 0)


@dataclass(frozen=True)
class ToolCall:
    """One tool call a model asked for: its id (to answer it by), the tool's name, and its
    arguments as the model wrote them (JSON text, not yet checked)."""

    id: str
    name: str
    arguments: str


# A message: (role, content), or a whole chat message as the API takes it (an assistant's
# tool calls, a tool's result: an agent's conversation).
Message = tuple[str, str] | dict


@dataclass(frozen=True)
class ModelRequest:
    model: str | None  # None: the deployment's default model
    messages: tuple[Message, ...]
    temperature: float | None = None
    max_tokens: int | None = None
    json_mode: bool = False
    cache: bool = True
    timeout: float | None = None
    retries: int | None = None
    provider: str | None = None  # a provider of the running user's, by name; None: the server's
    tools: tuple[dict, ...] = ()  # OpenAI tool declarations the model may call (an agent's)


@dataclass
class ModelReply:
    text: str
    model: str
    usage: Usage | None  # None when the server did not report usage
    cost_usd: float = 0.0
    cost_saved_usd: float = 0.0
    price_known: bool = True
    cached: bool = False
    attempts: int = 1
    extra: dict = field(default_factory=dict)
    tool_calls: tuple[ToolCall, ...] = ()  # what the model asked to call instead of answering


class TextSink(Protocol):
    """Where a streamed answer's text goes as the model sends it (a run's event stream).
    Called from the node's thread."""

    def chunk(self, text: str) -> None:
        """The next piece of the answer."""

    def restart(self, reason: str) -> None:
        """The pieces sent so far are void: another attempt starts the answer over."""


class ModelGateway(Protocol):
    def complete(
        self,
        request: ModelRequest,
        *,
        deadline: float | None = None,
        stopped: Stopped = never,
        text: TextSink | None = None,
    ) -> ModelReply:
        """Answer the request or raise ``NodeError`` with ``model_error``,
        ``rate_limited`` or ``timeout``. No attempt outlives ``deadline`` (a
        ``time.monotonic()`` value) and none begins once ``stopped()``. With ``text``,
        the answer is streamed and its pieces handed to it as they come (the reply
        still holds the whole text)."""
