"""The closed sets of statuses, defined once (as rq's ``JobStatus``); everything else
(the database, the API, the pages, the OpenAPI document) uses these members."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """An execution: ``queued`` → ``running`` → ``completed`` | ``failed`` | ``cancelled``."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in ACTIVE


class NodeStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Trigger(StrEnum):
    """What started an execution (docs/api.md, "Triggers")."""

    API = "api"
    UI = "ui"
    WEBHOOK = "webhook"
    SCHEDULE = "schedule"
    RETRY = "retry"
    WORKFLOW = "workflow"  # a workflow node's child run
    TEST = "test"  # a run of the draft or an older version, or one cut short or pinned: not in usage_count


class EventKind(StrEnum):
    """An execution's events, in the order a run makes them (docs/api.md, "Streaming")."""

    EXECUTION_STARTED = "execution_started"
    NODE_STARTED = "node_started"
    TEXT_CHUNK = "text_chunk"
    TEXT_RESET = "text_reset"  # the node's text so far is void: a retry starts it over
    NODE_FINISHED = "node_finished"
    EXECUTION_FINISHED = "execution_finished"


class TriggerType(StrEnum):
    """What kind of trigger starts a workflow by itself (its runs carry ``Trigger.WEBHOOK``
    or ``Trigger.SCHEDULE``)."""

    WEBHOOK = "webhook"
    SCHEDULE = "schedule"


class TestRunStatus(StrEnum):
    """A test run of a workflow's cases: ``running`` → ``completed`` | ``cancelled``."""

    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class CaseStatus(StrEnum):
    """One case of a test run: ``pending`` until its execution settles and is scored."""

    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"  # a check did not pass
    ERROR = "error"  # its execution failed, or a check could not be judged


ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)
