"""Triggers over the API: webhooks and schedules (docs/api.md, "Triggers")."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from tests.api.test_executions import create
from tests.conftest import make_app
from tests.definitions import echo_definition, model_definition
from webapp.extensions import db
from webapp.models import Execution, Trigger, utcnow
from webapp.runs.schedules import fire_due


def webhook(api, workflow_id: str) -> dict:
    response = api.post(f"/workflows/{workflow_id}/triggers", json={"type": "webhook"})
    assert response.status_code == 201, response.json
    return response.json


def hook_path(trigger: dict) -> str:
    return "/hooks/" + trigger["url"].rsplit("/hooks/", 1)[1]


def test_a_webhook_runs_its_workflow_sync_or_async(api, client, model):
    workflow_id = create(api, model_definition())
    trigger = webhook(api, workflow_id)
    token = hook_path(trigger).rsplit("/", 1)[1]
    assert trigger["url"].startswith("http") and len(token) >= 43  # 256 random bits, url-safe
    assert set(trigger) == {"id", "workflow_id", "type", "enabled", "created_at", "url"}
    done = client.post(hook_path(trigger), json={"text": "ping"})
    assert done.status_code == 200 and done.json["status"] == "completed"
    assert done.json["outputs"] == {"answer": "Echo: ping"}
    started = client.post(hook_path(trigger) + "?async=true", json={"text": "later"})
    assert started.status_code == 202 and set(started.json) == {"execution_id", "status"}
    execution = api.get(f"/executions/{done.json['execution_id']}").json  # the owner's execution
    assert execution["trigger"] == "webhook" and execution["trigger_id"] == trigger["id"]


def test_a_webhook_refuses_bad_inputs_unknown_and_disabled_tokens(api, client):
    workflow_id = create(api, model_definition())
    trigger = webhook(api, workflow_id)
    bad = client.post(hook_path(trigger), json={"nope": 1})
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_error"
    assert client.post("/hooks/" + "x" * 43, json={}).status_code == 404
    assert api.patch(f"/triggers/{trigger['id']}", json={"enabled": False}).json["enabled"] is False
    disabled = client.post(hook_path(trigger), json={"text": "x"})
    assert disabled.status_code == 404 and disabled.json["error"]["code"] == "not_found"
    api.patch(f"/triggers/{trigger['id']}", json={"enabled": True})
    assert api.delete(f"/workflows/{workflow_id}").status_code == 204
    assert client.post(hook_path(trigger), json={"text": "x"}).status_code == 404  # its workflow is gone


def test_guessing_webhook_tokens_is_rate_limited_per_address(database_url, model):
    app = make_app(database_url, model.base_url, RATELIMIT_ENABLED=True, RATELIMIT_AUTH_FAILURES="3 per minute")
    client = app.test_client()
    answers = [client.post(f"/hooks/guess{n:040d}", json={}).status_code for n in range(5)]
    assert answers == [404, 404, 404, 429, 429]


def test_only_the_owner_sees_or_changes_triggers(api, other_api):
    public = create(api, echo_definition(), public=True)
    trigger = webhook(api, public)
    assert other_api.get(f"/workflows/{public}/triggers").status_code == 403
    assert other_api.post(f"/workflows/{public}/triggers", json={"type": "webhook"}).status_code == 403
    assert other_api.patch(f"/triggers/{trigger['id']}", json={"enabled": False}).status_code == 404
    assert other_api.delete(f"/triggers/{trigger['id']}").status_code == 404
    assert [t["id"] for t in api.get(f"/workflows/{public}/triggers").json["triggers"]] == [trigger["id"]]
    assert api.delete(f"/triggers/{trigger['id']}").status_code == 204
    assert api.get(f"/workflows/{public}/triggers").json["triggers"] == []


@pytest.mark.parametrize(
    "body, path",
    [
        ({"type": "cron"}, "type"),
        ({"type": "schedule"}, "cron"),
        ({"type": "schedule", "cron": "* * *"}, "cron"),
        ({"type": "schedule", "cron": "61 * * * *"}, "cron"),
        ({"type": "schedule", "cron": "* * * * *", "interval_seconds": 120}, "cron"),
        ({"type": "schedule", "interval_seconds": 5}, "interval_seconds"),
        ({"type": "schedule", "cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"type": "schedule", "interval_seconds": 60, "inputs": {"text": 3}}, "inputs.text"),
        ({"type": "webhook", "cron": "* * * * *"}, "cron"),
    ],
)
def test_a_schedule_is_checked_before_it_is_made(api, body, path):
    workflow_id = create(api, model_definition())
    response = api.post(f"/workflows/{workflow_id}/triggers", json=body)
    assert response.status_code == 422
    assert path in [d["path"] for d in response.json["error"]["details"]], response.json


def test_a_cron_schedule_runs_in_its_timezone(api):
    workflow_id = create(api, model_definition())
    body = {"type": "schedule", "cron": "0 9 * * *", "timezone": "Europe/Paris", "inputs": {"text": "daily"}}
    made = api.post(f"/workflows/{workflow_id}/triggers", json=body).json
    due = datetime.fromisoformat(made["next_run_at"].replace("Z", "+00:00"))
    in_paris = due.astimezone(ZoneInfo("Europe/Paris"))
    assert (in_paris.hour, in_paris.minute) == (9, 0) and due > datetime.now(ZoneInfo("UTC"))
    assert due - datetime.now(ZoneInfo("UTC")) <= timedelta(days=1)
    assert made["cron"] == "0 9 * * *" and made["interval_seconds"] is None and made["last_run_at"] is None
    moved = api.patch(f"/triggers/{made['id']}", json={"cron": "30 6 * * 1", "timezone": "America/New_York"}).json
    in_new_york = datetime.fromisoformat(moved["next_run_at"].replace("Z", "+00:00")).astimezone(
        ZoneInfo("America/New_York")
    )
    assert (in_new_york.weekday(), in_new_york.hour, in_new_york.minute) == (0, 6, 30)


def make_due(app, trigger_id: str, ago: timedelta) -> None:
    with app.app_context():
        db.session.execute(update(Trigger).where(Trigger.id == trigger_id).values(next_run_at=utcnow() - ago))
        db.session.commit()


def due_schedule(app, api, workflow_id: str, inputs: dict) -> dict:
    """A schedule of the workflow (every minute), due a second ago."""
    made = api.post(
        f"/workflows/{workflow_id}/triggers", json={"type": "schedule", "interval_seconds": 60, "inputs": inputs}
    ).json
    make_due(app, made["id"], timedelta(seconds=1))
    return made


def scheduled_runs(app, trigger_id: str) -> list[Execution]:
    with app.app_context():
        return list(db.session.scalars(select(Execution).where(Execution.trigger_id == trigger_id)))


def test_a_due_schedule_starts_one_execution_and_a_pause_gives_one_catch_up(app, api, model):
    workflow_id = create(api, model_definition())
    made = due_schedule(app, api, workflow_id, {"text": "tick"})
    with app.app_context():
        assert fire_due() == 1 and fire_due() == 0  # the due time is taken
    make_due(app, made["id"], timedelta(minutes=10))  # ten intervals missed while nothing ran
    with app.app_context():
        assert fire_due() == 1 and fire_due() == 0
        trigger = db.session.get(Trigger, made["id"])
        assert trigger.next_run_at > utcnow() and trigger.last_run_at is not None
    runs = scheduled_runs(app, made["id"])
    assert len(runs) == 2 and {run.trigger for run in runs} == {"schedule"}
    assert all(run.inputs == {"text": "tick"} for run in runs)


def test_a_disabled_schedule_or_a_deleted_workflows_schedule_does_not_run(app, api):
    workflow_id = create(api, model_definition())
    made = api.post(
        f"/workflows/{workflow_id}/triggers", json={"type": "schedule", "interval_seconds": 60, "inputs": {"text": "x"}}
    ).json
    api.patch(f"/triggers/{made['id']}", json={"enabled": False})
    make_due(app, made["id"], timedelta(seconds=5))
    with app.app_context():
        assert fire_due() == 0
    api.patch(f"/triggers/{made['id']}", json={"enabled": True})  # from now on: the pause is not caught up
    make_due(app, made["id"], timedelta(seconds=5))
    api.delete(f"/workflows/{workflow_id}")
    with app.app_context():
        assert fire_due() == 0
    assert scheduled_runs(app, made["id"]) == []


def test_triggers_are_in_the_audit_log(api):
    workflow_id = create(api, model_definition())
    trigger = webhook(api, workflow_id)
    api.patch(f"/triggers/{trigger['id']}", json={"enabled": False})
    api.delete(f"/triggers/{trigger['id']}")
    actions = [e["action"] for e in api.get("/audit").json["events"] if e["target_id"] == trigger["id"]]
    assert actions == ["trigger.deleted", "trigger.updated", "trigger.created"]


def test_the_url_holds_the_token_only_the_owner_sees(api):
    trigger = webhook(api, create(api, model_definition()))
    assert re.fullmatch(r"http://[^/]+/hooks/[A-Za-z0-9_-]{43}", trigger["url"])


def test_a_user_holds_at_most_max_triggers_per_user(app, api, other_api):
    """Webhooks and schedules together, over all of a user's live workflows; past the
    bound a new one is a 409 with the envelope, and deleting one makes room again."""
    app.config["MAX_TRIGGERS_PER_USER"] = 3
    first, second = create(api, model_definition()), create(api, model_definition())
    made = [webhook(api, first), webhook(api, second)]
    schedule = {"type": "schedule", "interval_seconds": 60, "inputs": {"text": "x"}}
    made.append(api.post(f"/workflows/{second}/triggers", json=schedule).json)
    for body in ({"type": "webhook"}, schedule):
        refused = api.post(f"/workflows/{first}/triggers", json=body)
        assert refused.status_code == 409 and refused.json["error"]["code"] == "conflict"
        assert "MAX_TRIGGERS_PER_USER" in refused.json["error"]["details"][0]["message"]
    assert len(api.get(f"/workflows/{first}/triggers").json["triggers"]) == 1
    assert webhook(other_api, create(other_api, model_definition()))  # someone else's count is their own
    api.delete(f"/triggers/{made[0]['id']}")
    assert webhook(api, first)
    api.delete(f"/workflows/{second}")  # a deleted workflow's triggers count no more
    assert webhook(api, first) and webhook(api, first)


def test_one_users_many_due_schedules_do_not_hold_up_anothers(app, api, other_api):
    """Due schedules are fired taking turns between owners: another user's schedule,
    due after all of the first user's, starts second, not sixth."""
    schedule = {"type": "schedule", "interval_seconds": 60, "inputs": {"text": "x"}}
    busy = create(api, echo_definition())
    many = [api.post(f"/workflows/{busy}/triggers", json=schedule).json["id"] for _ in range(5)]
    for minutes, trigger_id in enumerate(many):
        make_due(app, trigger_id, timedelta(minutes=10 - minutes))
    other = other_api.post(f"/workflows/{create(other_api, echo_definition())}/triggers", json=schedule).json["id"]
    make_due(app, other, timedelta(seconds=1))
    with app.app_context():
        assert fire_due() == 6
        started = db.session.scalars(select(Execution.trigger_id).order_by(Execution.created_at)).all()
    assert started[:2] == [many[0], other] and sorted(started) == sorted([*many, other])
