"""Trigger bodies: webhooks and schedules of a workflow."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from ..engine.status import TriggerType
from .base import ANSWER, Body, JsonObject, Timestamp, by_field, component, prefixed_id

Cron = Annotated[str, Field(description="Five fields: minute hour day month weekday.", examples=["*/5 * * * *"])]
# At least the deployment's SCHEDULE_MIN_INTERVAL: the document states the number it runs with.
Interval = Annotated[int, component("ScheduleInterval")]
Timezone = Annotated[str, Field(description="An IANA zone; the cron is read in it.", examples=["Europe/Paris"])]


class WebhookRequest(Body):
    type: Literal[TriggerType.WEBHOOK.value]  # type: ignore[valid-type]


class ScheduleRequest(Body):
    """Exactly one of ``cron`` and ``interval_seconds``."""

    type: Literal[TriggerType.SCHEDULE.value]  # type: ignore[valid-type]
    cron: Cron | None = None
    interval_seconds: Interval | None = None
    timezone: Timezone = "UTC"
    inputs: JsonObject | None = Field(None, description="The inputs of every run; checked against the input node.")


TriggerRequest = by_field("type", WebhookRequest, ScheduleRequest)


class TriggerUpdate(Body):
    """Giving ``cron`` or ``interval_seconds`` replaces the schedule's timing (the other is
    cleared). A webhook takes ``enabled`` only."""

    enabled: bool = None  # type: ignore[assignment]
    cron: Cron | None = None
    interval_seconds: Interval | None = None
    timezone: Timezone = None  # type: ignore[assignment]
    inputs: JsonObject = None  # type: ignore[assignment]


# -- answers ---------------------------------------------------------------------------------


class TriggerCommon(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    id: prefixed_id("trg")
    workflow_id: prefixed_id("wf")
    enabled: bool
    created_at: Timestamp


class WebhookTrigger(TriggerCommon):
    type: Literal[TriggerType.WEBHOOK.value]  # type: ignore[valid-type]
    url: Annotated[
        str,
        Field(
            json_schema_extra={"format": "uri"},
            description="POST JSON inputs here; the token in it is the secret.",
        ),
    ]


class ScheduleTrigger(TriggerCommon):
    type: Literal[TriggerType.SCHEDULE.value]  # type: ignore[valid-type]
    cron: Cron | None
    interval_seconds: Annotated[int, Field(ge=1)] | None
    timezone: Timezone
    inputs: JsonObject
    next_run_at: Timestamp | None
    last_run_at: Timestamp | None


Trigger = Annotated[WebhookTrigger | ScheduleTrigger, Field(discriminator="type")]


class TriggerList(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    triggers: list[Trigger]
