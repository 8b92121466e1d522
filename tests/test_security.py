"""Headers, cookies, start-up checks and the API's refusal of browser sessions."""

from __future__ import annotations

import pytest

from webapp import create_app
from webapp.config import Config, ConfigError


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
