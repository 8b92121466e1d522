"""The audit log: every sensitive action leaves an event in its owner's log."""

from __future__ import annotations

from tests.conftest import PASSWORD
from tests.definitions import model_definition, workflow_body
from tests.waiting import eventually
from webapp.auth import accounts
from webapp.extensions import db
from webapp.models import AuditEvent, User


def actions(api) -> list[str]:
    return [e["action"] for e in api.get("/audit?limit=100").json["events"]]


def test_workflow_and_execution_actions_are_audited(api, model):
    workflow_id = api.post("/workflows", json=workflow_body(definition=model_definition())).json["id"]
    api.patch(f"/workflows/{workflow_id}", json={"name": "renamed"})
    api.patch(f"/workflows/{workflow_id}", json={"public": True})
    running = api.post(
        f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "[[latency=3]] x"}, "async": True}
    ).json["execution_id"]
    eventually(lambda: api.get(f"/executions/{running}").json["status"] != "queued", what="the run to start")
    api.post(f"/executions/{running}/cancel")
    api.post(f"/executions/{running}/retry")
    api.delete(f"/workflows/{workflow_id}")
    logged = actions(api)
    for action in (
        "api_key.created",
        "workflow.created",
        "workflow.changed",
        "workflow.published",
        "execution.started",
        "execution.cancelled",
        "execution.retried",
        "workflow.deleted",
    ):
        assert action in logged, action
    assert logged[0] == "workflow.deleted", "newest first"


def test_an_event_names_actor_target_time_and_address(api):
    workflow_id = api.post("/workflows", json=workflow_body(), environ_base={"REMOTE_ADDR": "203.0.113.7"}).json["id"]
    event = api.get("/audit").json["events"][0]
    assert set(event) == {"id", "at", "actor", "action", "target_type", "target_id", "ip"}
    assert event["action"] == "workflow.created" and event["actor"] == api.user.id
    assert (event["target_type"], event["target_id"]) == ("workflow", workflow_id)
    assert event["ip"] == "203.0.113.7" and event["at"].endswith("Z") and event["id"].startswith("evt_")


def test_sign_ins_and_key_changes_are_audited_in_the_owners_log(app, api):
    with app.test_request_context(environ_base={"REMOTE_ADDR": "198.51.100.1"}):
        accounts.sign_in(api.user.email, "wrong password")
        accounts.sign_in(api.user.email, PASSWORD)
        user = db.session.get(User, api.user.id)
        raw = accounts.issue_api_key(user, "temporary")
        key_id = next(k.id for k in accounts.active_keys(user) if k.name == "temporary")
        accounts.revoke_api_key(user, key_id)
    assert accounts_user_for(app, raw) is None, "a revoked key no longer works"
    logged = actions(api)
    assert logged[:4] == ["api_key.revoked", "api_key.created", "sign_in.success", "sign_in.failure"]
    failure = api.get("/audit?limit=100").json["events"][3]
    assert failure["actor"] == api.user.email and failure["ip"] == "198.51.100.1"


def accounts_user_for(app, raw):
    with app.app_context():
        holder = accounts.api_key_holder(raw)
        return holder and holder[0]


def test_a_user_sees_only_their_own_events(api, other_api):
    api.post("/workflows", json=workflow_body())
    other_api.post("/workflows", json=workflow_body())
    mine = api.get("/audit?limit=100").json
    assert all(e["actor"] in (api.user.id, api.user.email) for e in mine["events"])
    assert mine["total"] == len(mine["events"]) == 2  # key created by the fixture, workflow created


def test_the_log_is_paginated(api):
    for i in range(4):
        api.post("/workflows", json=workflow_body(name=f"w{i}"))
    page = api.get("/audit?limit=2&offset=1").json
    assert page["total"] == 5 and len(page["events"]) == 2 and page["has_more"] is True
    assert api.get("/audit?limit=500").status_code == 400


def test_failed_sign_in_for_an_unknown_email_is_kept_but_in_no_ones_log(app, api):
    with app.test_request_context():
        accounts.sign_in("nobody@example.com", "guess")
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(action="sign_in.failure").one()
        assert event.user_id is None and event.actor == "nobody@example.com"
