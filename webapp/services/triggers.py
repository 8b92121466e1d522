"""Triggers: webhooks and schedules that start a workflow (docs/api.md, "Triggers").

A trigger belongs to its workflow and so to the workflow's owner; only the owner sees
or changes it, and the executions it starts are the owner's (limits, budgets and fair
share apply). A webhook's token is the secret: 256 random bits, found by its SHA-256,
kept encrypted so its URL can be shown again. A schedule's next due time is claimed
with a compare-and-set (``schedules.py``): one execution per due time.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from flask import current_app, url_for
from sqlalchemy import select

from ..engine.errors import InputError, Problem
from ..engine.status import TriggerType
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from ..models import Trigger, User, Workflow, utcnow
from ..secretbox import open_sealed, seal
from . import audit
from .definitions import graph_for
from .workflows import owned_workflow

SCHEDULE_FIELDS = {"cron", "interval_seconds", "timezone", "inputs"}
_FIELDS = {TriggerType.WEBHOOK: {"type"}, TriggerType.SCHEDULE: {"type", *SCHEDULE_FIELDS}}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hook_url(trigger: Trigger) -> str:
    """A webhook's absolute URL, its token opened from the seal."""
    return url_for("hooks.receive", token=open_sealed(trigger.token_encrypted), _external=True)


def own_trigger(user: User, trigger_id: str) -> Trigger:
    trigger = db.session.get(Trigger, trigger_id) if isinstance(trigger_id, str) else None
    workflow = db.session.get(Workflow, trigger.workflow_id) if trigger else None
    if trigger is None or workflow is None or workflow.owner_id != user.id or workflow.deleted_at is not None:
        raise NotFound(f"No trigger '{trigger_id}'")
    return trigger


def list_triggers(user: User, workflow_id: str) -> list[Trigger]:
    workflow = owned_workflow(user, workflow_id)
    query = select(Trigger).where(Trigger.workflow_id == workflow.id).order_by(Trigger.created_at, Trigger.id)
    return list(db.session.scalars(query))


def create_trigger(user: User, workflow_id: str, body: dict) -> tuple[Trigger, str | None]:
    """The new trigger, and a webhook's token (its URL holds it)."""
    workflow = owned_workflow(user, workflow_id)
    kind = body.get("type")
    if kind not in tuple(TriggerType):
        raise ValidationFailed(
            "Trigger is invalid", [Problem("type", "invalid_value", "'type' must be webhook or schedule")]
        )
    _refuse_unknown(body, _FIELDS[kind])
    trigger = Trigger(workflow_id=workflow.id, type=kind, enabled=True, inputs={}, timezone="UTC")
    token = None
    if kind == TriggerType.WEBHOOK:
        token = secrets.token_urlsafe(32)
        trigger.token_hash, trigger.token_encrypted = token_hash(token), seal(token)
    else:
        _apply_schedule(trigger, workflow, body, creating=True)
    db.session.add(trigger)
    db.session.flush()
    audit.record("trigger.created", user, "trigger", trigger.id, details={"workflow_id": workflow.id, "type": kind})
    db.session.commit()
    return trigger, token


def update_trigger(user: User, trigger_id: str, body: dict) -> Trigger:
    trigger = own_trigger(user, trigger_id)
    allowed = {"enabled"} | (SCHEDULE_FIELDS if trigger.type == TriggerType.SCHEDULE else set())
    _refuse_unknown(body, allowed)
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise ValidationFailed(
                "Trigger is invalid", [Problem("enabled", "invalid_value", "'enabled' must be true or false")]
            )
        trigger.enabled = body["enabled"]
    if trigger.type == TriggerType.SCHEDULE and set(body) & SCHEDULE_FIELDS:
        _apply_schedule(trigger, db.session.get(Workflow, trigger.workflow_id), body, creating=False)
    elif trigger.type == TriggerType.SCHEDULE and body.get("enabled") is True:
        trigger.next_run_at = next_due(trigger, utcnow())  # re-enabled: from now on, no catch-up of the pause
    audit.record("trigger.updated", user, "trigger", trigger.id, details={"fields": sorted(body)})
    db.session.commit()
    return trigger


def delete_trigger(user: User, trigger_id: str) -> None:
    trigger = own_trigger(user, trigger_id)
    audit.record("trigger.deleted", user, "trigger", trigger.id, details={"workflow_id": trigger.workflow_id})
    db.session.delete(trigger)
    db.session.commit()


def webhook_for(token: str) -> Trigger:
    """The enabled webhook holding ``token`` on a live workflow, else ``NotFound``."""
    trigger = db.session.scalar(select(Trigger).where(Trigger.token_hash == token_hash(token)))
    workflow = db.session.get(Workflow, trigger.workflow_id) if trigger else None
    if trigger is None or not trigger.enabled or workflow is None or workflow.deleted_at is not None:
        raise NotFound("No such webhook")
    return trigger


# -- schedules -----------------------------------------------------------------------------------------------


def next_due(trigger: Trigger, after: datetime) -> datetime:
    """The schedule's first due time strictly after ``after`` (naive UTC, as stored).
    Times missed before ``after`` are skipped: a pause gives one catch-up run, not one per miss."""
    if trigger.interval_seconds:
        start = trigger.next_run_at or after
        if start > after:
            return start
        steps = int((after - start).total_seconds() // trigger.interval_seconds) + 1
        return start + timedelta(seconds=steps * trigger.interval_seconds)
    return _next_cron(trigger, after)


def _next_cron(trigger: Trigger, after: datetime) -> datetime:
    """The cron's next time after ``after``, read in the trigger's timezone."""
    local = after.replace(tzinfo=UTC).astimezone(ZoneInfo(trigger.timezone))
    return next(iter(CronSim(trigger.cron, local))).astimezone(UTC).replace(tzinfo=None)


def upcoming(trigger: Trigger, count: int = 5) -> list[datetime]:
    """The next ``count`` due times, for the UI."""
    times = [trigger.next_run_at or utcnow()]
    while len(times) < count:
        if trigger.interval_seconds:
            times.append(times[-1] + timedelta(seconds=trigger.interval_seconds))
        else:
            times.append(_next_cron(trigger, times[-1]))
    return times


def _apply_schedule(trigger: Trigger, workflow: Workflow, body: dict, *, creating: bool) -> None:
    problems: list[Problem] = []
    cron, interval = trigger.cron, trigger.interval_seconds
    if creating or "cron" in body or "interval_seconds" in body:  # giving either replaces the timing
        cron, interval = body.get("cron"), body.get("interval_seconds")
    timezone = body.get("timezone", trigger.timezone or "UTC")
    if (cron is None) == (interval is None):
        problems.append(Problem("cron", "missing_field", "give either 'cron' or 'interval_seconds'"))
    if cron is not None:
        problems += _cron_problems(cron)
    if interval is not None:
        least = current_app.config["SCHEDULE_MIN_INTERVAL"]
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < least:
            problems.append(
                Problem("interval_seconds", "invalid_value", f"'interval_seconds' must be an integer ≥ {least}")
            )
    if not isinstance(timezone, str) or not _known_zone(timezone):
        problems.append(Problem("timezone", "invalid_value", "'timezone' must be an IANA zone such as Europe/Paris"))
    inputs = body.get("inputs", trigger.inputs) or {}
    if not problems:
        problems += _input_problems(workflow, inputs)
    if problems:
        raise ValidationFailed("Trigger is invalid", problems)
    schedule_changed = (cron, interval, timezone) != (trigger.cron, trigger.interval_seconds, trigger.timezone)
    trigger.cron, trigger.interval_seconds, trigger.timezone, trigger.inputs = cron, interval, timezone, inputs
    if creating or schedule_changed:
        now = utcnow()
        trigger.next_run_at = now + timedelta(seconds=interval) if interval else _next_cron(trigger, now)


def _cron_problems(cron: Any) -> list[Problem]:
    if not isinstance(cron, str) or len(cron.split()) != 5:
        return [Problem("cron", "invalid_value", "'cron' must have five fields: minute hour day month weekday")]
    try:
        CronSim(cron, datetime(2026, 1, 1))
    except CronSimError as exc:
        return [Problem("cron", "invalid_value", f"'cron' is not valid: {exc}")]
    return []


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _input_problems(workflow: Workflow, inputs: Any) -> list[Problem]:
    """A schedule's fixed inputs must satisfy the workflow's input node now."""
    graph = graph_for(workflow.id, workflow.version)
    try:
        graph.validate_inputs(inputs)
    except InputError as exc:
        return exc.problems
    return []


def _refuse_unknown(body: dict, allowed: set) -> None:
    unknown = [Problem(key, "unknown_field", f"unknown field '{key}'") for key in body if key not in allowed]
    if unknown:
        raise ValidationFailed("Trigger is invalid", unknown)
