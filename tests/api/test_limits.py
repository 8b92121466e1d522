"""Rate limits, budgets and size limits: each a setting, each with a clear error."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import PASSWORD, Api, close_app, make_app, make_user
from tests.definitions import echo_definition, model_definition, workflow_body
from tests.web_server import Browser, Gunicorn
from webapp.auth import accounts
from webapp.errors import RateLimited


@pytest.fixture
def limited_app(database_url, model):
    """An app with rate limits on, small enough to reach in a test."""
    app = make_app(
        database_url,
        model.base_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_API="5 per minute",
        RATELIMIT_EXECUTIONS="2 per minute",
        RATELIMIT_LOGIN="3 per 15 minutes",
        RATELIMIT_LOGIN_ACCOUNT="5 per 15 minutes",
        RATELIMIT_LOGIN_ADDRESS="4 per 15 minutes",
        RATELIMIT_AUTH_FAILURES="4 per minute",
        RATELIMIT_KEY_PREFIX=uuid.uuid4().hex,
    )
    yield app
    close_app(app)


def api_for(app, email):
    user, key = make_user(app, email)
    return Api(app.test_client(), user, key)


def assert_rate_limited(response, code="rate_limited"):
    assert response.status_code == 429
    error = response.json["error"]
    assert error["code"] == code
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1 and error["retry_after"] == retry_after


def test_api_calls_are_limited_per_key(limited_app):
    alice, bob = api_for(limited_app, "a@example.com"), api_for(limited_app, "b@example.com")
    for _ in range(5):
        assert alice.get("/workflows").status_code == 200
    assert_rate_limited(alice.get("/workflows"))
    assert bob.get("/workflows").status_code == 200, "another key has its own allowance"


def test_the_api_limit_holds_across_processes_through_redis(database_url, model, redis_url):
    prefix = uuid.uuid4().hex
    settings = {
        "REDIS_URL": redis_url,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_API": "4 per minute",
        "RATELIMIT_KEY_PREFIX": prefix,
    }
    first = make_app(database_url, model.base_url, **settings)
    second = make_app(database_url, model.base_url, **{**settings, "RATELIMIT_KEY_PREFIX": prefix})
    try:
        user, key = make_user(first, "shared@example.com")
        one, two = Api(first.test_client(), user, key), Api(second.test_client(), user, key)
        assert [one.get("/workflows").status_code for _ in range(2)] == [200, 200]
        assert [two.get("/workflows").status_code for _ in range(2)] == [200, 200]
        assert_rate_limited(one.get("/workflows"))
    finally:
        close_app(first)
        close_app(second)


def test_executions_are_limited_per_user(limited_app):
    api = api_for(limited_app, "a@example.com")
    workflow_id = api.post("/workflows", json=workflow_body()).json["id"]
    for _ in range(2):
        assert api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).status_code == 200
    assert_rate_limited(api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}))
    assert api.get(f"/workflows/{workflow_id}/executions").json["total"] == 2, "the refused run left no row"


def sign_in_from(app, address, email, password):
    with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
        return accounts.sign_in(email, password)


def test_a_stranger_cannot_lock_the_owner_out_from_elsewhere(limited_app):
    """Failures count per account *and* address: the guesser's address is refused,
    the owner signing in from their own is not."""
    make_user(limited_app, "target@example.com")
    for _ in range(3):
        assert sign_in_from(limited_app, "10.0.0.1", "target@example.com", "wrong") is None
    with pytest.raises(RateLimited) as caught:
        sign_in_from(limited_app, "10.0.0.1", "target@example.com", PASSWORD)
    assert caught.value.retry_after >= 1
    assert sign_in_from(limited_app, "10.0.0.2", "target@example.com", PASSWORD) is not None


def test_guesses_at_one_account_from_many_addresses_meet_a_higher_ceiling(limited_app):
    make_user(limited_app, "target@example.com")
    for n in range(5):  # RATELIMIT_LOGIN_ACCOUNT, each address under its own limit
        assert sign_in_from(limited_app, f"10.0.1.{n}", "target@example.com", "wrong") is None
    with pytest.raises(RateLimited):
        sign_in_from(limited_app, "10.0.1.99", "target@example.com", PASSWORD)
    make_user(limited_app, "other@example.com")
    assert sign_in_from(limited_app, "10.0.1.99", "other@example.com", PASSWORD) is not None


def test_guesses_at_many_accounts_from_one_address_are_limited(limited_app):
    for n in range(4):  # RATELIMIT_LOGIN_ADDRESS
        sign_in_from(limited_app, "10.9.9.9", f"nobody{n}@example.com", "wrong")
    make_user(limited_app, "real@example.com")
    with pytest.raises(RateLimited):
        sign_in_from(limited_app, "10.9.9.9", "real@example.com", PASSWORD)
    assert sign_in_from(limited_app, "10.1.1.1", "real@example.com", PASSWORD) is not None


def test_made_up_keys_are_limited_per_address_and_never_throttle_a_real_key(limited_app):
    alice = api_for(limited_app, "a@example.com")
    forged = alice.key[:12] + "x" * (len(alice.key) - 12)  # the real key's public prefix
    flood = limited_app.test_client()
    answers = [
        flood.get("/api/v1/workflows", headers={"Authorization": f"Bearer {forged}"}, environ_base=FLOODER)
        for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [401] * 4 + [429] * 2
    assert_rate_limited(answers[-1])
    good_key_there = flood.get(
        "/api/v1/workflows", headers={"Authorization": f"Bearer {alice.key}"}, environ_base=FLOODER
    )
    assert good_key_there.status_code == 200, "a real key counts per key, wherever it comes from"
    assert alice.get("/workflows").status_code == 200


def test_public_paths_are_limited_per_address(limited_app):
    client = limited_app.test_client()
    answers = [client.get("/api/v1/openapi.json").status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]


FLOODER = {"REMOTE_ADDR": "203.0.113.9"}


def test_successful_sign_ins_do_not_count(limited_app):
    make_user(limited_app, "busy@example.com")
    for _ in range(6):
        assert sign_in_from(limited_app, "10.2.2.2", "busy@example.com", PASSWORD) is not None


def test_ratelimit_enabled_false_turns_every_limit_off(database_url, model):
    app = make_app(
        database_url,
        model.base_url,
        RATELIMIT_ENABLED=False,
        RATELIMIT_API="1 per minute",
        RATELIMIT_EXECUTIONS="1 per minute",
        RATELIMIT_LOGIN="1 per minute",
    )
    try:
        api = api_for(app, "a@example.com")
        workflow_id = api.post("/workflows", json=workflow_body()).json["id"]
        for _ in range(3):
            assert api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).status_code == 200
        for _ in range(3):
            assert sign_in_from(app, "10.3.3.3", "a@example.com", "wrong") is None
    finally:
        close_app(app)


# -- budgets ------------------------------------------------------------------------------------


def chain_of_three_model_calls():
    definition = model_definition("step one {{ in.text }}")
    definition["nodes"][2:2] = [
        {"id": "two", "type": "ai_model", "config": {"prompt": "step two {{ gen.text }}"}},
        {"id": "three", "type": "ai_model", "config": {"prompt": "step three {{ two.text }}"}},
    ]
    definition["connections"] = [
        {"from": "in", "to": "gen"},
        {"from": "gen", "to": "two"},
        {"from": "two", "to": "three"},
        {"from": "three", "to": "out"},
    ]
    return definition


def set_budget(app, email, *args):
    result = app.test_cli_runner().invoke(args=["set-budget", email, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_run_over_budget_is_refused_before_it_starts(app, api, model):
    workflow_id = api.post("/workflows", json=workflow_body(definition=model_definition())).json["id"]
    set_budget(app, api.user.email, "--tokens", "10")
    first = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "one two three four five six"}})
    assert first.status_code == 200 and first.json["usage"]["total_tokens"] >= 10
    assert_rate_limited(
        api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}), code="budget_exceeded"
    )
    assert "Budget for alice@example.com: unlimited" in set_budget(app, api.user.email, "--default")
    assert api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).status_code == 200


def test_a_run_that_crosses_its_budget_stops_at_the_next_node(app, api, model):
    set_budget(app, api.user.email, "--tokens", "8")
    workflow_id = api.post("/workflows", json=workflow_body(definition=chain_of_three_model_calls())).json["id"]
    body = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "a b c d e f"}}).json
    assert body["status"] == "failed" and body["error"]["code"] == "budget_exceeded"
    nodes = {n["node_id"]: n["status"] for n in body["nodes"]}
    assert nodes == {
        "in": "completed",
        "gen": "completed",
        "two": "cancelled",
        "three": "cancelled",
        "out": "cancelled",
    }
    assert model.call_count == 1


def test_the_cost_budget_counts_too(app, api, model):
    set_budget(app, api.user.email, "--cost", "0.000001")
    workflow_id = api.post("/workflows", json=workflow_body(definition=chain_of_three_model_calls())).json["id"]
    body = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "a b c d e f"}}).json
    assert body["error"]["code"] == "budget_exceeded"


def test_config_default_budget_applies_to_everyone(database_url, model):
    app = make_app(database_url, model.base_url, MONTHLY_TOKEN_BUDGET=1)
    try:
        api = api_for(app, "a@example.com")
        workflow_id = api.post("/workflows", json=workflow_body(definition=model_definition())).json["id"]
        assert api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).status_code == 200
        assert_rate_limited(
            api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}), code="budget_exceeded"
        )
    finally:
        close_app(app)


# -- size limits --------------------------------------------------------------------------------


def test_request_body_limit(app, api):
    app.config["MAX_CONTENT_LENGTH"] = 2000
    response = api.post("/workflows", data="{" + " " * 3000 + "}", content_type="application/json")
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"


def test_definition_size_and_node_count_limits(app, api):
    app.config["MAX_NODES"] = 3
    too_many = echo_definition()
    too_many["nodes"].insert(2, {"id": "extra", "type": "processing", "config": {"operation": "strip", "input": "x"}})
    response = api.post("/workflows", json=workflow_body(definition=too_many))
    assert response.status_code == 422 and "at most 3 nodes" in response.json["error"]["details"][0]["message"]
    app.config["MAX_DEFINITION_BYTES"] = 300
    big = echo_definition()
    big["nodes"][1]["config"]["input"] = "{{ in.text }}" + " " * 400
    response = api.post("/workflows", json=workflow_body(definition=big))
    assert response.status_code == 422 and "too large" in response.json["error"]["message"]


def test_input_size_limit(app, api):
    app.config["MAX_INPUT_BYTES"] = 100
    workflow_id = api.post("/workflows", json=workflow_body()).json["id"]
    response = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x" * 200}})
    assert response.status_code == 422 and "limit is 100" in response.json["error"]["details"][0]["message"]


def test_node_output_limit(app, api):
    app.config["MAX_NODE_OUTPUT_BYTES"] = 150
    definition = echo_definition()
    definition["nodes"][1]["config"] = {"operation": "template", "template": "{{ in.text * 3 }}"}
    workflow_id = api.post("/workflows", json=workflow_body(definition=definition)).json["id"]
    body = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "y" * 60}}).json
    assert body["status"] == "failed" and body["error"]["node_id"] == "shout"
    error = next(n for n in body["nodes"] if n["node_id"] == "shout")["error"]
    assert error["code"] == "resource_limit" and "limit is 150" in error["message"]


def test_template_render_limit(database_url, model):
    app = make_app(database_url, model.base_url, MAX_RENDER_CHARS=100)
    try:
        api = api_for(app, "a@example.com")
        definition = echo_definition()
        definition["nodes"][1]["config"] = {
            "operation": "template",
            "template": "{% for i in range(50) %}xyz{% endfor %}",
        }
        workflow_id = api.post("/workflows", json=workflow_body(definition=definition)).json["id"]
        body = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).json
        error = next(n for n in body["nodes"] if n["node_id"] == "shout")["error"]
        assert error["code"] == "resource_limit" and "limit of 100 characters" in error["message"]
    finally:
        close_app(app)


def test_execution_time_limit(app, api, model):
    app.config["EXECUTION_TIMEOUT"] = 0.5
    workflow_id = api.post("/workflows", json=workflow_body(definition=model_definition("[[latency=3]] x"))).json["id"]
    body = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).json
    assert body["status"] == "failed" and body["error"]["code"] == "timeout"


@pytest.mark.parametrize("mode", ["local", "queue"])
def test_sign_in_limits_hold_across_processes_and_under_parallel_guesses(mode, request, model):
    """Two gunicorn processes, as ``make run`` serves: counted in the database in local
    mode, in Redis in queue mode. One guess at a time, then thirty at once."""
    database_url = request.getfixturevalue("sqlite_url" if mode == "local" else "postgres_url")
    settings = {
        "RATELIMIT_ENABLED": "true",
        "RATELIMIT_LOGIN": "10 per 15 minutes",
        "RATELIMIT_LOGIN_ACCOUNT": "1000 per 15 minutes",  # only the account-and-address limit is under test
        "RATELIMIT_LOGIN_ADDRESS": "1000 per 15 minutes",
        "RATELIMIT_KEY_PREFIX": uuid.uuid4().hex,
    }
    if mode == "queue":
        settings["REDIS_URL"] = request.getfixturevalue("redis_url")
    app = make_app(database_url, model.base_url)
    for email in ("one@example.com", "two@example.com"):
        make_user(app, email)
    server = Gunicorn(database_url, model.base_url, workers=2, **settings).start()
    try:
        one_by_one = [Browser(server).sign_in("one@example.com", "wrong") for _ in range(16)]
        assert one_by_one == [401] * 10 + [429] * 6
        browsers = [Browser(server) for _ in range(30)]
        with ThreadPoolExecutor(len(browsers)) as pool:
            at_once = list(pool.map(lambda browser: browser.sign_in("two@example.com", "wrong"), browsers))
        assert (at_once.count(401), at_once.count(429)) == (10, 20), "exactly ten guesses were checked"
        checked_by = {pid for pid, line, _ in server.requests_served() if line.startswith("POST /login")}
        assert len(checked_by) == 2, "both processes took sign-ins"
    finally:
        server.kill()
        close_app(app)
