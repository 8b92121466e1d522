"""One bounded check for every value that crosses a boundary of a run.

A value is measured where it crosses, by ``bounded`` alone, with one measure (its JSON
text, as it is stored): what a sandbox process hands back, what a node's ``prepare``
made (a prompt, a request, a map's items, a child's inputs), a node's ``input`` and
``output``, what goes to a model, an HTTP server or a child workflow (the gateways a run
hands its nodes are wrapped here), and the outputs an execution keeps. The runner and the
sandbox own these crossings, not the node types: a new node type inherits the bound
instead of remembering it. Over the bound the node fails with ``resource_limit`` and the
value goes no further, so nothing larger is stored or sent.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .errors import ErrorCode, NodeError
from .http_calls import HttpAnswer, HttpGateway, HttpRequest
from .jsontext import LONE_SURROGATE, SURROGATE_MESSAGE
from .model_calls import ModelGateway, ModelReply, ModelRequest
from .nodes.base import NodeOutcome
from .workflow_calls import ChildRun, WorkflowGateway


def bounded(value: Any, limit: int, what: str = "the value", *, look_first: bool = False) -> Any:
    """``value`` if it fits ``limit`` bytes as JSON, else ``NodeError`` (``resource_limit``).
    A ``NodeOutcome`` is its ``output`` and its ``input``, each within the limit.

    ``look_first``: where a value may be far over the bound (what a sandbox computed), a
    cheap look at its text first, so that 100 MB is not written out again to be measured.
    Elsewhere values come from bounded sources, at most a few times the bound: one pass."""
    if isinstance(value, NodeOutcome):
        _check(value.output, limit, "the output", look_first)
        _check(value.input, limit, "the input", look_first)
    else:
        _check(value, limit, what, look_first)
    return value


def json_size(value: Any) -> int:
    """Characters of ``value`` as JSON, which is how it is stored and measured. ``NodeError``
    (``invalid_output``) for what no store can hold: NaN, Infinity, lone surrogates."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=_fields)
    except ValueError as exc:
        raise NodeError("invalid_output", f"the result is not representable as JSON: {exc}") from None
    except RecursionError:
        raise NodeError("invalid_output", "the result is nested too deeply") from None
    if LONE_SURROGATE.search(text):  # '{{ "%c" % 56319 }}', or a model's reply
        raise NodeError("invalid_output", f"the result holds {SURROGATE_MESSAGE}")
    return len(text)


def _check(value: Any, limit: int, what: str, look_first: bool) -> None:
    if value is None or isinstance(value, (bool, int, float)):
        return
    at_least = _text_at_least(value, limit) if look_first else 0
    size = at_least if at_least > limit else json_size(value)
    if size > limit:
        more = " or more" if at_least > limit else ""
        raise NodeError(ErrorCode.RESOURCE_LIMIT, f"{what} is {size:,} bytes{more}; the limit is {limit:,}")


def _text_at_least(value: Any, limit: int) -> int:
    """A lower bound of ``value``'s JSON size (its text and one byte per other part),
    given up on once past ``limit``."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
            total += 1
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, field.name) for field in dataclasses.fields(item))
        else:
            total += 1
    return total


def _fields(value: Any) -> Any:
    """How ``json.dumps`` writes what a step prepared: a request's fields, a body's bytes
    (one character each, so a body counts its bytes)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return value.decode("latin-1")
    raise TypeError(f"a {type(value).__name__} is not a JSON value")


# -- what a run sends out ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BoundedModels:
    """A run's model gateway: no prompt over the bound is sent."""

    gateway: ModelGateway
    limit: int

    def complete(self, request: ModelRequest, **call: Any) -> ModelReply:
        bounded((request.messages, request.tools), self.limit, "the prompt")
        return self.gateway.complete(request, **call)


@dataclasses.dataclass(frozen=True)
class BoundedHttp:
    """A run's HTTP gateway: no request over the bound is sent."""

    gateway: HttpGateway
    limit: int

    def send(self, request: HttpRequest, **call: Any) -> HttpAnswer:
        bounded(request, self.limit, "the request")
        return self.gateway.send(request, **call)


@dataclasses.dataclass(frozen=True)
class BoundedWorkflows:
    """A run's child workflows: their inputs within ``MAX_INPUT_BYTES``, as an API call's."""

    gateway: WorkflowGateway
    limit: int

    def run(self, workflow_id: str, inputs: dict, **call: Any) -> ChildRun:
        bounded(inputs, self.limit, "the child's inputs")
        return self.gateway.run(workflow_id, inputs, **call)

    def tool(self, workflow_id: str):
        return self.gateway.tool(workflow_id)
