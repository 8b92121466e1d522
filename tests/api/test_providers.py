"""Model providers over the API (docs/api.md, "Model providers"): keys sealed at rest and
never shown, resolved for the user whose execution runs, behind the outbound rules."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.api.test_executions import create
from tests.conftest import close_app, make_app, make_user
from tests.definitions import model_definition
from webapp.extensions import db

SECRET = "sk-provider-0123456789-abcd"


def provider_body(model, **fields) -> dict:
    return {
        "name": "mine",
        "base_url": model.base_url,
        "api_key": SECRET,
        "models": ["local-llama"],
        "prices": {"local-llama": {"prompt": 1.0, "completion": 2.0}},
        **fields,
    }


@pytest.fixture
def app(database_url, model):
    """The loopback model server stands for a provider: it must be allowed."""
    app = make_app(database_url, model.base_url, HTTP_ALLOWED_HOSTS="127.0.0.1")
    yield app
    close_app(app)


def test_a_provider_is_made_listed_and_changed_without_showing_its_key(api, model):
    made = api.post("/providers", json=provider_body(model))
    assert made.status_code == 201, made.json
    body = made.json
    assert body["api_key_set"] is True and body["api_key_last4"] == "abcd" and SECRET not in made.text
    assert set(body) == {"id", "name", "base_url", "api_key_set", "api_key_last4", "models", "prices", "created_at"}
    listed = api.get("/providers")
    assert [p["id"] for p in listed.json["providers"]] == ["default", body["id"]] and SECRET not in listed.text
    assert listed.json["providers"][0]["api_key_last4"] is None  # the server's key shows nothing
    changed = api.patch(f"/providers/{body['id']}", json={"name": "renamed", "api_key": "sk-new-key-wxyz"})
    assert changed.json["name"] == "renamed" and changed.json["api_key_last4"] == "wxyz"
    taken = api.post("/providers", json=provider_body(model, name="renamed"))  # unique per user: a conflict
    assert taken.status_code == 409 and taken.json["error"]["details"][0]["code"] == "duplicate_id"
    assert api.delete(f"/providers/{body['id']}").status_code == 204
    assert api.get(f"/providers/{body['id']}").status_code == 404


def test_the_key_is_sealed_in_the_database(app, api, model):
    api.post("/providers", json=provider_body(model))
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM providers")).all()
        dump = repr(rows) + repr(db.session.execute(text("SELECT * FROM audit_events")).all())
    assert rows and SECRET not in dump and SECRET[-12:] not in dump


def test_a_node_naming_a_provider_calls_it_with_its_key_and_prices(api, model):
    provider = api.post("/providers", json=provider_body(model)).json
    workflow_id = create(api, model_definition(model="local-llama", provider="mine", cache=False))
    run = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "hi"}}).json
    assert run["status"] == "completed", run["error"]
    assert model.calls[-1]["authorization"] == f"Bearer {SECRET}"
    gen = next(n for n in run["nodes"] if n["node_id"] == "gen")
    tokens = gen["usage"]
    expected = (tokens["prompt_tokens"] * 1.0 + tokens["completion_tokens"] * 2.0) / 1_000_000
    assert gen["usage"]["cost_usd"] == pytest.approx(expected)
    assert api.get(f"/providers/{provider['id']}/models").json == {
        "models": ["gpt-4o-mini", "local-llama", "tiny-test-model"]
    }


def test_another_user_running_a_public_workflow_does_not_use_the_authors_key(app, api, other_api, model):
    api.post("/providers", json=provider_body(model))
    workflow_id = create(api, model_definition(provider="mine", cache=False), public=True)
    run = other_api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "hi"}}).json
    assert run["status"] == "completed", run["error"]
    assert model.calls[-1]["authorization"] == "Bearer test-key"  # the server's, not the author's


def test_a_provider_at_a_blocked_address_fails_with_blocked_destination(database_url, model):
    app = make_app(database_url, model.base_url)  # no HTTP_ALLOWED_HOSTS: loopback is refused
    try:
        _, key = make_user(app, "blocked@example.com")
        client, auth = app.test_client(), {"Authorization": f"Bearer {key}"}
        for number, base_url in enumerate((model.base_url, "http://169.254.169.254/v1")):
            body = provider_body(model, name=f"p{number}", base_url=base_url)
            provider = client.post("/api/v1/providers", json=body, headers=auth).json
            listed = client.get(f"/api/v1/providers/{provider['id']}/models", headers=auth)
            assert listed.status_code == 422 and listed.json["error"]["details"][0]["code"] == "blocked_destination"
            definition = model_definition(provider=body["name"], cache=False)
            workflow = client.post("/api/v1/workflows", json={"name": "W", **definition}, headers=auth).json
            run = client.post(
                f"/api/v1/workflows/{workflow['id']}/execute", json={"inputs": {"text": "x"}}, headers=auth
            )
            assert run.json["status"] == "failed" and run.json["error"]["code"] == "blocked_destination", run.json[
                "error"
            ]
        assert model.call_count == 0
    finally:
        close_app(app)


@pytest.mark.parametrize(
    "fields, path",
    [
        ({"name": ""}, "name"),
        ({"name": "default"}, "name"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"models": "gpt"}, "models"),
        ({"prices": {"m": {"prompt": -1, "completion": 1}}}, "prices.m.prompt"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_provider_is_checked(api, model, fields, path):
    response = api.post("/providers", json=provider_body(model, **fields))
    assert response.status_code == 422 and path in [d["path"] for d in response.json["error"]["details"]]


def test_another_users_provider_is_404(api, other_api, model):
    provider = api.post("/providers", json=provider_body(model)).json
    for call in (other_api.get, other_api.delete):
        assert call(f"/providers/{provider['id']}").status_code == 404
    assert other_api.patch(f"/providers/{provider['id']}", json={"name": "x"}).status_code == 404
    assert other_api.get(f"/providers/{provider['id']}/models").status_code == 404


def test_a_providers_answer_is_read_no_further_than_a_node_may_hold(app, api, model):
    """A user's server cannot fill the worker's memory: the transport stops reading at the bound."""
    app.config["MAX_NODE_OUTPUT_BYTES"] = 10_000  # read when the model gateway is first built
    api.post("/providers", json=provider_body(model))
    workflow_id = create(api, model_definition("[[big=50000]] {{ in.text }}", provider="mine", cache=False, retries=0))
    run = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).json
    gen = next(n for n in run["nodes"] if n["node_id"] == "gen")
    assert run["status"] == "failed" and gen["error"]["code"] == "resource_limit", gen["error"]
    assert "10000 bytes" in gen["error"]["message"]
