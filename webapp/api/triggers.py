"""/api/v1 triggers of a workflow: webhooks and schedules (owner only)."""

from __future__ import annotations

from flask import g

from ..schemas import triggers as schema
from ..services import triggers as service
from ..services.workflows import owned_workflow
from . import bp
from .contract import Answer, Refusal, operation
from .refusals import SCHEDULE
from .serializers import trigger as serialize

TRIGGER = (schema.Trigger, "The trigger.")


def _owned(workflow_id: str) -> None:
    owned_workflow(g.user, workflow_id)


@bp.post("/workflows/<wf:workflow_id>/triggers")
@operation(
    "createTrigger",
    "Add a webhook or a schedule to a workflow",
    tag="triggers",
    errors=(403, 404),
    before=_owned,
    body=schema.TriggerRequest,
    example={"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris", "inputs": {}},
    refusals=SCHEDULE,
    description="Owner only. A schedule's inputs must satisfy the workflow's input node.",
    answers={201: TRIGGER},
)
def create_trigger(workflow_id: str, body):
    made, _ = service.create_trigger(g.user, workflow_id, body.given())
    return serialize(made), 201


@bp.get("/workflows/<wf:workflow_id>/triggers")
@operation(
    "listTriggers",
    "List a workflow's triggers",
    tag="triggers",
    errors=(403, 404),
    answers={200: (schema.TriggerList, "Its triggers, oldest first.")},
)
def list_triggers(workflow_id: str):
    return {"triggers": [serialize(item) for item in service.list_triggers(g.user, workflow_id)]}


def _own(trigger_id: str) -> None:
    service.own_trigger(g.user, trigger_id)


@bp.patch("/triggers/<trigger_id>")
@operation(
    "updateTrigger",
    "Enable, disable or reschedule a trigger",
    tag="triggers",
    errors=(404,),
    before=_own,
    body=schema.TriggerUpdate,
    refusals=(
        Refusal("unknown_field", "a schedule's field (cron, interval_seconds, timezone, inputs) sent to a webhook"),
        *SCHEDULE,
    ),
    answers={200: TRIGGER},
)
def update_trigger(trigger_id: str, body: schema.TriggerUpdate):
    return serialize(service.update_trigger(g.user, trigger_id, body.given()))


@bp.delete("/triggers/<trigger_id>")
@operation(
    "deleteTrigger",
    "Delete a trigger",
    tag="triggers",
    errors=(404,),
    answers={204: Answer(None, "Deleted: a webhook's URL answers 404 from now on.")},
)
def delete_trigger(trigger_id: str):
    service.delete_trigger(g.user, trigger_id)
    return "", 204
