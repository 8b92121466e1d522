"""Headers, cookies, start-up checks and the API's refusal of browser sessions."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import close_app, make_app, make_user
from tests.definitions import echo_definition, workflow_body
from tests.web_server import Gunicorn
from webapp import create_app
from webapp.config import Config, ConfigError
from webapp.engine.attempts import MAX_RETRIES
from webapp.extensions import db
from webapp.models import User
from webapp.services.triggers import create_trigger
from webapp.services.workflows import create_workflow


def test_every_answer_carries_the_security_headers(client, api):
    for response in (api.get("/workflows"), client.get("/api/v1/nope"), client.get("/login")):
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"


def test_session_cookies_are_httponly_lax_and_secure_behind_https(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    plain = Config()
    assert plain.SESSION_COOKIE_HTTPONLY and plain.SESSION_COOKIE_SAMESITE == "Lax"
    assert plain.SESSION_COOKIE_SECURE is False
    monkeypatch.setenv("PREFERRED_URL_SCHEME", "https")
    behind_tls = Config()
    assert behind_tls.SESSION_COOKIE_SECURE and behind_tls.REMEMBER_COOKIE_SECURE


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app()


def test_a_malformed_setting_is_a_clear_start_up_error(monkeypatch):
    monkeypatch.setenv("SYNC_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="SYNC_TIMEOUT must be a number"):
        Config()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        # past what a node may ask for
        ("MODEL_RETRIES", str(MAX_RETRIES + 1), f"must be from 0 to {MAX_RETRIES}, got {MAX_RETRIES + 1}"),
        ("WORKER_CONCURRENCY", "0", "WORKER_CONCURRENCY must be at least 1, got 0"),
        ("WORKER_ACTIVE_RUNS", "0", "WORKER_ACTIVE_RUNS must be at least 1, got 0"),  # no run would ever work
        ("ACTIVE_REQUESTS", "0", "ACTIVE_REQUESTS must be at least 1, got 0"),  # no request would ever run
        ("MAX_INPUT_BYTES", "-1", "MAX_INPUT_BYTES must be at least 0, got -1"),
        ("REAPER_INTERVAL", "0", "REAPER_INTERVAL must be a finite number, above 0, got '0'"),  # it would spin
        ("EXECUTION_TIMEOUT", "inf", "EXECUTION_TIMEOUT must be a finite number, above 0, got 'inf'"),
        ("SYNC_TIMEOUT", "-1", "SYNC_TIMEOUT must be a finite number, 0 or more, got '-1'"),
    ],
)
def test_a_setting_out_of_its_range_is_a_clear_start_up_error(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        Config()


def test_a_setting_at_its_bound_is_taken(monkeypatch):
    monkeypatch.setenv("MODEL_RETRIES", str(MAX_RETRIES))
    monkeypatch.setenv("MAX_RUNNING_PER_USER", "0")  # 0 = unlimited
    monkeypatch.setenv("SYNC_TIMEOUT", "0")  # answer 202 at once
    config = Config()
    assert config.MODEL_RETRIES == MAX_RETRIES and config.MAX_RUNNING_PER_USER == 0 and config.SYNC_TIMEOUT == 0


def test_a_browser_session_alone_does_not_open_the_api(client, api):
    with client.session_transaction() as session:
        session["_user_id"] = api.user.id
        session["_fresh"] = True
    response = client.get("/api/v1/workflows")
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("header", ["Bearer", "Bearer wfk_not-a-real-key-at-all-000000", "Basic abc", "wfk_x"])
def test_bad_or_missing_keys_are_401(client, header):
    response = client.get("/api/v1/workflows", headers={"Authorization": header})
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"


def test_keys_are_stored_only_as_hashes(app, api):
    from webapp.extensions import db
    from webapp.models import ApiKey

    with app.app_context():
        stored = db.session.query(ApiKey).one()
        assert api.key not in (stored.key_hash, stored.lookup) and len(stored.key_hash) == 64
        assert api.key.startswith(stored.lookup)


# -- text that is not text: lone UTF-16 surrogates -----------------------------------------

LONE = '"x\\udfff"'  # JSON spelling half of a surrogate pair, alone


def raw_post(api, path: str, body: dict, placeholder: str = "LONE"):
    """Post ``body`` with the string ``placeholder`` spelled as a lone surrogate."""
    raw = json.dumps(body).replace(f'"{placeholder}"', LONE)
    return api.post(path, data=raw, content_type="application/json")


@pytest.mark.parametrize(
    "where",
    [
        {"name": "LONE"},
        {"description": "LONE"},
        {"category": "LONE"},
        {"definition": {**echo_definition(), "extra": {"LONE": 1}}},
    ],
    ids=["name", "description", "category", "a key"],
)
def test_a_lone_surrogate_in_a_workflow_is_400_and_nothing_is_stored(api, where):
    response = raw_post(api, "/workflows", {**workflow_body(definition=echo_definition()), **where})
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "bad_request" and "surrogate" in response.json["error"]["message"]
    assert api.get("/workflows").json["total"] == 0


def test_a_lone_surrogate_in_inputs_is_400_and_a_pair_is_fine(api):
    workflow_id = api.post("/workflows", json=workflow_body(definition=echo_definition())).json["id"]
    response = raw_post(api, f"/workflows/{workflow_id}/execute", {"inputs": {"text": "LONE"}})
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_request"
    assert api.get(f"/workflows/{workflow_id}/executions").json["total"] == 0
    pair = api.post(
        f"/workflows/{workflow_id}/execute",
        data='{"inputs": {"text": "smile \\ud83d\\ude00"}}',
        content_type="application/json",
    )
    assert pair.status_code == 200 and pair.json["outputs"]["result"] == "SMILE \U0001f600"


def test_a_node_that_makes_a_lone_surrogate_fails_and_its_run_stays_readable(api):
    definition = echo_definition()
    definition["nodes"][1]["config"] = {"operation": "template", "template": "{{ '%c' % 56319 }}"}
    workflow_id = api.post("/workflows", json=workflow_body(definition=definition)).json["id"]
    body = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).json
    assert body["status"] == "failed"
    shout = next(n for n in body["nodes"] if n["node_id"] == "shout")
    assert shout["error"]["code"] == "invalid_output" and "surrogate" in shout["error"]["message"]
    assert api.get(f"/executions/{body['id']}").status_code == 200


def test_an_over_long_id_gets_the_envelope_from_the_deployed_server(sqlite_url, model):
    """gunicorn.conf.py lets request lines of up to 8 KB through to the app (gunicorn's
    own default, 4 KB, answered an HTML 414)."""
    app = make_app(sqlite_url, model.base_url)
    server = Gunicorn(sqlite_url, model.base_url).start()
    try:
        response = _get(f"{server.url}/api/v1/workflows/{'x' * 8000}")
        assert response.status == 401 and json.loads(response.read())["error"]["code"] == "unauthorized"
    finally:
        server.kill()
        close_app(app)


def test_webhook_tokens_never_reach_the_access_log(sqlite_url, model):
    """gunicorn.conf.py gives the access log a logger that masks /hooks/<token> in every
    value it can write, here the request line, path, query, referer and raw URI, for the
    path as sent, percent-encoded, or named in a header (issue 31, finding 8)."""
    app = make_app(sqlite_url, model.base_url)
    owner, _ = make_user(app, "hooks@example.com")
    with app.app_context():
        user = db.session.get(User, owner.id)
        workflow = create_workflow(user, {"name": "hooked", **echo_definition()})
        _, token = create_trigger(user, workflow.id, {"type": "webhook"})
    log_format = '"%(r)s" %(s)s %(U)s %(q)s "%(f)s" %({raw_uri}e)s %({x-forwarded-for}i)s'
    server = Gunicorn(sqlite_url, model.base_url, log_format=log_format).start()
    try:
        hook = f"{server.url}/hooks/{token}"
        posted = _post(f"{hook}?async=true", {"text": "x"}, {"Referer": hook, "X-Forwarded-For": f"/hooks/{token}"})
        assert posted.status == 202
        assert _post(f"{server.url}/%68ooks/{token}?async=true", {"text": "x"}).status == 202  # the same view
        assert _post(f"{server.url}/hooks/{token[:-4]}nope", {}).status == 404
        time.sleep(0.5)  # the last line is written after its answer: let it out before the kill
    finally:
        server.kill()
        close_app(app)
    lines = [line for line in server.access_log if "ooks/" in line]
    assert len(lines) == 3 and all(token not in line and token[:20] not in line for line in lines), lines
    assert all("/hooks/[token]" in line for line in lines)


def _post(url: str, body: dict, headers: dict | None = None):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        return urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        return error


def _get(url: str):
    try:
        return urllib.request.urlopen(url, timeout=10)
    except urllib.error.HTTPError as error:
        return error


def test_gunicorns_error_log_masks_webhook_tokens_too(capsys):
    """gunicorn logs "Error handling request <path>" when a request fails in it."""
    from gunicorn.config import Config as GunicornConfig

    from webapp.path_secrets import MaskedLogger

    logger = MaskedLogger(GunicornConfig())
    logger.error("Error handling request %s", "/hooks/s3cr3t-t0ken?async=true")
    logger.exception("Error handling request /%68ooks/s3cr3t-t0ken")
    written = capsys.readouterr().err
    assert "s3cr3t" not in written and written.count("/hooks/[token]") == 2
