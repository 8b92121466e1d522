"""An execution's events as ``GET /executions/{id}/events`` sends them (Server-Sent Events:
``id:`` the event's number, ``event:`` its kind, ``data:`` the JSON below)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from ..engine.status import EventKind, NodeStatus
from .base import ANSWER, described
from .executions import ExecutionId, ExecutionSummary, NodeError, NodeUsage


class ExecutionStarted(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    execution_id: ExecutionId


class NodeStarted(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    node_id: str


class TextChunk(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    node_id: str
    text: Annotated[str, described("The next piece of the model's answer, as the model sent it.")]


class TextReset(TypedDict):
    """The node's text so far is void: a retry starts the answer over."""

    __pydantic_config__ = ANSWER  # type: ignore[misc]
    node_id: str
    reason: str


class NodeFinished(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    node_id: str
    status: Literal[tuple(s.value for s in NodeStatus if s not in (NodeStatus.PENDING, NodeStatus.RUNNING))]  # type: ignore[valid-type]
    output: Annotated[Any, described("The node's output; any JSON.")]
    error: NodeError | None
    usage: NodeUsage


class ExecutionEvent(TypedDict):
    """One event of the stream; the stream ends after ``execution_finished``, whose data is
    the execution without its nodes. Lines starting with ``:`` are keep-alives."""

    __pydantic_config__ = ANSWER  # type: ignore[misc]
    id: Annotated[int, Field(ge=1, description="Grows by one per event; send it back as Last-Event-ID to resume.")]
    event: Literal[tuple(EventKind)]  # type: ignore[valid-type]
    data: ExecutionStarted | NodeStarted | TextChunk | TextReset | NodeFinished | ExecutionSummary
