"""Execution bodies: starting a run, and a run as it is read back, node by node."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from ..engine.definition import NODE_ID
from ..engine.errors import ErrorCode
from ..engine.status import NodeStatus, RunStatus, Trigger
from .base import (
    ANSWER,
    Body,
    Count,
    JsonObject,
    Page,
    PageQuery,
    Query,
    Timestamp,
    closed,
    described,
    integer,
    prefixed_id,
)

ExecutionId = prefixed_id("exec")
NodeId = Annotated[str, Field(pattern=NODE_ID.pattern)]
Cost = Annotated[float, Field(ge=0)]


class ExecuteRequest(Body):
    inputs: JsonObject | None = Field(None, description="Checked against the input node's fields; null: none.")
    async_: bool = Field(False, alias="async", description="Answer 202 at once instead of waiting.")
    stream: bool = Field(
        False, description="Answer 200 with the execution's events as they happen (text/event-stream); over async."
    )
    version: Literal["draft"] | integer(ge=1, le=2**31 - 1) | None = Field(
        None,
        description='"draft" (the owner only; it must have no problems) or a published version number; '
        "left out: the latest published version. Any other than the latest makes a test run.",
    )
    until: NodeId | None = Field(None, description="Run only this node and the nodes upstream of it (a test run).")
    pinned: dict[NodeId, JsonObject] | None = Field(
        None,
        description="Node id → the output it is given instead of running (no call, no tokens; a test run). "
        "Each is held to MAX_NODE_OUTPUT_BYTES.",
    )


# A webhook's body: the inputs themselves, checked against the input node.
Inputs = JsonObject


class HookQuery(Query):
    async_: bool = Field(False, alias="async", description="Answer 202 at once.")
    stream: bool = Field(False, description="Answer 200 with the execution's events as they happen; over async.")


class ExecutionListQuery(PageQuery):
    status: closed(RunStatus) | None = Field(None, description="Only this status.")


class UsageQuery(Query):
    days: integer(ge=1, le=366) = Field(30, description="How many days back, today included.")
    workflow_id: str | None = Field(None, description="Only this workflow.")


# -- answers ---------------------------------------------------------------------------------


class ExecutionUsage(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    prompt_tokens: Count
    completion_tokens: Count
    total_tokens: Count
    cost_usd: Cost
    cost_saved_usd: Annotated[float, Field(ge=0, description="Spared by the cache or a retry.")]


class NodeUsage(TypedDict):
    """Null token counts: the model server did not report usage."""

    __pydantic_config__ = ANSWER  # type: ignore[misc]
    prompt_tokens: Count | None
    completion_tokens: Count | None
    total_tokens: Count | None
    cost_usd: Cost


class NodeError(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    code: str
    message: str


class ExecutionError(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    code: closed(ErrorCode)
    message: str
    node_id: str | None


class NodeRun(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    node_id: str
    type: str
    status: closed(NodeStatus)
    started_at: Timestamp | None
    finished_at: Timestamp | None
    duration_ms: Count | None
    input: Annotated[Any, described("What the node worked on (a rendered prompt, an evaluated input…); any JSON.")]
    output: Annotated[Any, described("The node's output; any JSON, null unless completed.")]
    error: NodeError | None
    usage: NodeUsage
    cost_saved_usd: Cost
    cached: bool
    attempts: Count
    reused_from: ExecutionId | None
    pinned: Annotated[bool, Field(description="Its output was given by a test run's pinned, not run.")]


class ExecutionSummary(TypedDict):
    """An execution without its nodes."""

    __pydantic_config__ = ANSWER  # type: ignore[misc]
    id: ExecutionId
    workflow_id: prefixed_id("wf")
    workflow_version: Annotated[int, Field(ge=1)]
    retry_of: ExecutionId | None
    trigger: Annotated[closed(Trigger), Field(description="What started it.")]
    trigger_id: prefixed_id("trg") | None
    parent_execution_id: ExecutionId | None
    status: closed(RunStatus)
    inputs: JsonObject
    outputs: JsonObject | None
    error: ExecutionError | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    duration_ms: Count | None
    usage: ExecutionUsage


class Execution(ExecutionSummary):
    nodes: list[NodeRun]


class ExecutionList(Page):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    executions: list[ExecutionSummary]


class ExecutionAccepted(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    execution_id: ExecutionId
    status: Annotated[
        closed(RunStatus),
        Field(
            description="'queued' for a new execution; a repeated Idempotency-Key answers with "
            "the first execution's status."
        ),
    ]
    status_url: Annotated[str, Field(json_schema_extra={"format": "uri"})]


class RetryAccepted(Execution, ExecutionAccepted):
    """The new execution, with where to follow it."""


class UsageTotals(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    executions: Count
    prompt_tokens: Count
    completion_tokens: Count
    total_tokens: Count
    cost_usd: Cost


class UsageDay(UsageTotals):
    date: Annotated[str, Field(json_schema_extra={"format": "date"})]


class UsageByWorkflow(UsageTotals):
    workflow_id: prefixed_id("wf")
    name: str


class UsageReport(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    days: Annotated[int, Field(ge=1, le=366)]
    since: Annotated[str, Field(json_schema_extra={"format": "date"}, description="The first day counted (UTC).")]
    workflow_id: str | None
    totals: UsageTotals
    by_day: Annotated[list[UsageDay], Field(description="Oldest day first.")]
    by_workflow: Annotated[list[UsageByWorkflow], Field(description="Costliest first.")]


class HookResult(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    execution_id: ExecutionId
    status: closed(RunStatus)
    outputs: JsonObject | None


class HookAccepted(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    execution_id: ExecutionId
    status: closed(RunStatus)
