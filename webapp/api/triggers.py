"""/api/v1 triggers of a workflow: webhooks and schedules (owner only)."""

from __future__ import annotations

from flask import g

from ..services import triggers as service
from . import bp
from .params import json_body
from .serializers import trigger as serialize


@bp.post("/workflows/<workflow_id>/triggers")
def create_trigger(workflow_id: str):
    made, _ = service.create_trigger(g.user, workflow_id, json_body())
    return serialize(made), 201


@bp.get("/workflows/<workflow_id>/triggers")
def list_triggers(workflow_id: str):
    return {"triggers": [serialize(item) for item in service.list_triggers(g.user, workflow_id)]}


@bp.patch("/triggers/<trigger_id>")
def update_trigger(trigger_id: str):
    return serialize(service.update_trigger(g.user, trigger_id, json_body()))


@bp.delete("/triggers/<trigger_id>")
def delete_trigger(trigger_id: str):
    service.delete_trigger(g.user, trigger_id)
    return "", 204
