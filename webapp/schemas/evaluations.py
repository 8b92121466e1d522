"""Evaluation bodies (docs/api.md, "Evaluations"): test cases and the test runs that score them.

A case's checks are ``checks.Check`` (one model per kind); the bounds on a case and on
how many a workflow keeps are declared here, once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from ..engine.status import CaseStatus, TestRunStatus
from .base import ANSWER, Body, Count, JsonObject, Page, PageQuery, Timestamp, closed, integer, one_of, prefixed_id
from .checks import Checks
from .executions import Cost, ExecutionId
from .workflows import Name

MAX_TEST_CASES = 100  # per workflow: a test run starts one execution for each, within RATELIMIT_EXECUTIONS
CHECKS_MAX_BYTES = 128 * 1024  # a case's checks together, as JSON (its inputs: MAX_INPUT_BYTES)
SHOWN_OUTPUTS_MAX_BYTES = 64 * 1024  # a case's outputs in a test run's answer; past it, read the execution
DRAFT = "draft"

TestCaseId = prefixed_id("tc")
TestRunId = prefixed_id("tr")
VersionChoice = Literal["draft"] | integer(ge=1, le=2**31 - 1)


class TestCaseCreate(Body):
    name: Name
    inputs: JsonObject = Field(default_factory=dict, description="Checked against the input node when it runs.")
    checks: Checks = Field(default_factory=list, description="Each over one of the execution's outputs.")


class TestCaseFromExecution(Body):
    """A finished execution of this workflow as a case: its inputs, and an ``equals``
    check for each output it produced."""

    from_execution: ExecutionId
    name: Name | None = Field(None, description="Left out: named after the execution.")


TestCaseRequest = one_of(
    lambda body: "from_execution" if isinstance(body, dict) and "from_execution" in body else "case",
    from_execution=TestCaseFromExecution,
    case=TestCaseCreate,
)


class TestCaseUpdate(Body):
    """Fields left out keep their values."""

    name: Name = None  # type: ignore[assignment]
    inputs: JsonObject = None  # type: ignore[assignment]
    checks: Checks = None  # type: ignore[assignment]


class TestRunRequest(Body):
    version: VersionChoice = Field(DRAFT, description='"draft" (the default) or a published version number.')


class TestRunListQuery(PageQuery):
    pass


# -- answers ---------------------------------------------------------------------------------


class TestCase(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    id: TestCaseId
    workflow_id: prefixed_id("wf")
    name: str
    inputs: JsonObject
    checks: list[JsonObject]
    created_at: Timestamp
    updated_at: Timestamp


class TestCaseList(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    tests: list[TestCase]


class Usage(TypedDict):
    """What the cases' executions and any judge spent."""

    __pydantic_config__ = ANSWER  # type: ignore[misc]
    prompt_tokens: Count
    completion_tokens: Count
    total_tokens: Count
    cost_usd: Cost


class CheckResult(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    kind: str
    output: str
    passed: bool
    detail: Annotated[str, Field(description="Why it passed or failed, in one line.")]


class CaseResult(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    test_id: TestCaseId
    name: str
    execution_id: Annotated[ExecutionId | None, Field(description="null: it could not start (see detail).")]
    status: Annotated[closed(CaseStatus), Field(description="pending until its execution settles and is scored.")]
    detail: Annotated[str | None, Field(description="Why it is an error, when no check says.")]
    checks: list[CheckResult]
    outputs: Annotated[
        JsonObject | None,
        Field(description="What its execution gave; null if none, or if over 64 KB as JSON (read the execution)."),
    ]
    duration_ms: Count | None
    usage: Usage


class TestRunSummary(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    id: TestRunId
    workflow_id: prefixed_id("wf")
    version: Annotated[Literal["draft"] | Annotated[int, Field(ge=1)], Field(description='"draft" or N.')]
    status: closed(TestRunStatus)
    created_at: Timestamp
    finished_at: Timestamp | None
    cases_total: Count
    passed: Count
    failed: Count
    errors: Count
    pass_rate: Annotated[
        float | None, Field(ge=0, le=1, description="Passed over the cases scored so far; null: none yet.")
    ]
    duration_ms: Count | None
    usage: Usage


class TestRun(TestRunSummary):
    cases: list[CaseResult]


class TestRunList(Page):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    test_runs: list[TestRunSummary]
