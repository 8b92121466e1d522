"""The Triggers panel of a workflow page: webhooks and schedules (owner only)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from ..engine import jsontext
from ..engine.errors import Problem
from ..engine.status import TriggerType
from ..errors import ValidationFailed
from ..services import triggers as service
from ..services.workflows import owned_workflow
from . import bp
from .rendering import respond


def _panel(workflow_id: str, *, status: int = 200, problems: dict | None = None, values: dict | None = None):
    workflow = owned_workflow(current_user._get_current_object(), workflow_id)
    context = {**triggers_context(workflow), "problems": problems or {}, "values": values or {}}
    return respond("partials/_triggers.html", status=status, workflow=workflow, **context)


def triggers_context(workflow) -> dict:
    """What the workflow page needs to draw its Triggers panel (its owner only)."""
    items = service.list_triggers(current_user._get_current_object(), workflow.id)
    return {
        "triggers": items,
        "upcoming": {t.id: service.upcoming(t) for t in items if t.type == TriggerType.SCHEDULE},
        "hook_urls": {t.id: service.hook_url(t) for t in items if t.type == TriggerType.WEBHOOK},
        "problems": {},
        "values": {},
    }


@bp.post("/workflows/<workflow_id>/triggers")
def trigger_create(workflow_id: str):
    form = request.form
    kind = form.get("type", TriggerType.WEBHOOK)
    body: dict = {"type": kind}
    if kind == TriggerType.SCHEDULE:
        try:
            body |= _schedule_body(_schedule_values(form))
        except ValidationFailed as exc:
            return _panel(workflow_id, status=422, problems=_by_path(exc.details), values=_schedule_values(form))
    try:
        service.create_trigger(current_user._get_current_object(), workflow_id, body)
    except ValidationFailed as exc:
        return _panel(workflow_id, status=422, problems=_by_path(exc.details), values=_schedule_values(form))
    return _panel(workflow_id)


@bp.post("/triggers/<trigger_id>/toggle")
def trigger_toggle(trigger_id: str):
    user = current_user._get_current_object()
    trigger = service.own_trigger(user, trigger_id)
    service.update_trigger(user, trigger_id, {"enabled": not trigger.enabled})
    return _panel(trigger.workflow_id)


@bp.post("/triggers/<trigger_id>/delete")
def trigger_delete(trigger_id: str):
    user = current_user._get_current_object()
    workflow_id = service.own_trigger(user, trigger_id).workflow_id
    service.delete_trigger(user, trigger_id)
    return _panel(workflow_id)


def _schedule_values(form) -> dict:
    return {key: form.get(key, "") for key in ("timing", "cron", "interval_seconds", "timezone", "inputs")}


def _schedule_body(values: dict) -> dict:
    """The schedule form as the API's body: cron or an interval, a zone, JSON inputs."""
    body: dict = {"timezone": values["timezone"].strip() or "UTC"}
    if values["timing"] == "interval":
        text = values["interval_seconds"].strip()
        body["interval_seconds"] = int(text) if text.isdigit() else text
    else:
        body["cron"] = values["cron"].strip()
    raw = values["inputs"].strip()
    if raw:
        try:
            body["inputs"] = jsontext.loads(raw)
        except ValueError as exc:
            problem = Problem("inputs", "syntax_error", f"not valid JSON: {exc}")
            raise ValidationFailed("Trigger is invalid", [problem]) from None
    return body


def _by_path(problems: list[Problem]) -> dict[str, str]:
    """Each problem next to its field: ``inputs.text`` goes under inputs."""
    placed: dict[str, str] = {}
    for problem in problems:
        field = problem.path.split(".")[0] or "type"
        placed[field] = " ".join(filter(None, (placed.get(field), problem.message)))
    return placed
