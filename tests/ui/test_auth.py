"""Signing in and out, registration, the sign-in wall, CSRF."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from tests.conftest import PASSWORD, close_app, make_app, make_user
from tests.ui.conftest import Page, csrf_token
from tests.ui.forms import form_fields
from webapp.auth import accounts
from webapp.extensions import db
from webapp.models import ApiKey, BrowserSession, utcnow


def test_root_sends_a_signed_out_visitor_to_sign_in(client):
    response = client.get("/")
    assert response.status_code in (302, 303)
    assert response.headers["Location"].startswith("/login")


def test_login_form_has_the_fixed_fields(client):
    response = client.get("/login")
    assert response.status_code == 200
    names = {name for name, _ in form_fields(response.text)}
    assert {"email", "password", "csrf_token"} <= names
    assert 'type="password"' in response.text and 'for="email"' in response.text


def test_signing_in_opens_the_dashboard(client, alice):
    token = csrf_token(client.get("/login").text)
    response = client.post("/login", data={"email": "ALICE@example.com ", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    dashboard = client.get("/")
    assert dashboard.status_code == 200 and "<h1>Welcome</h1>" in dashboard.text and alice.email in dashboard.text


def test_a_wrong_password_is_refused_with_a_message(client, alice):
    token = csrf_token(client.get("/login").text)
    response = client.post("/login", data={"email": alice.email, "password": "wrong password", "csrf_token": token})
    assert response.status_code == 401
    assert "email or password is not right" in response.text
    assert client.get("/").status_code in (302, 303)


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(client, alice):
    response = client.get("/usage?days=7")
    assert response.status_code == 303 and "next=" in response.headers["Location"]
    token = csrf_token(client.get("/login").text)
    data = {"email": alice.email, "password": PASSWORD, "csrf_token": token}
    assert client.post("/login?next=/usage?days=7", data=data).headers["Location"] == "/usage?days=7"
    sign_out(client)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/api/v1/workflows"):
        token = csrf_token(client.get("/login").text)
        response = client.post(f"/login?next={target}", data={**data, "csrf_token": token})
        assert response.headers["Location"] == "/", target
        sign_out(client)


def sign_out(client) -> None:
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/settings").text)})


def test_a_session_is_renewed_on_sign_in(client, alice):
    """The CSRF token (kept in the session) from before signing in no longer works."""
    before = csrf_token(client.get("/login").text)
    client.post("/login", data={"email": alice.email, "password": PASSWORD, "csrf_token": before})
    response = client.post("/settings/keys", data={"name": "x", "csrf_token": before})
    assert response.status_code == 400


def test_logout_ends_the_session(page):
    assert page.get("/").status_code == 200
    response = page.post("/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert page.get("/").status_code in (302, 303)
    assert "signed out" in page.get("/login").text


def test_a_cookie_copied_before_sign_out_opens_nothing_after(app, page):
    """Sign-out ends the session on the server: a stolen copy of the cookie is dead too."""
    copied, token = page.client.get_cookie("session").value, page.token
    page.post("/logout")
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/settings").status_code in (302, 303)
    response = thief.post("/settings/keys", data={"name": "backdoor", "csrf_token": token})
    assert response.status_code in (302, 303)
    with app.app_context():
        assert db.session.scalar(select(ApiKey).where(ApiKey.name == "backdoor")) is None


def test_a_session_ends_after_its_lifetime_whatever_the_cookie_says(app, page):
    with app.app_context():
        db.session.execute(update(BrowserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert page.get("/settings").status_code in (302, 303)


def test_changing_the_password_signs_out_every_other_browser(app, alice):
    here, there = Page(app, alice).sign_in(), Page(app, alice).sign_in()
    new = {"current": PASSWORD, "password": "another secret", "confirm": "another secret"}
    response = here.post("/settings/password", new)
    assert response.status_code == 303, response.text
    assert "password is changed" in here.get("/settings").text, "this browser stays signed in"
    assert there.get("/settings").status_code in (302, 303)
    with app.app_context():
        assert accounts.sign_in(alice.email, "another secret") is not None
        assert accounts.sign_in(alice.email, PASSWORD) is None


def test_a_wrong_current_password_changes_nothing(app, page, alice):
    response = page.post("/settings/password", {"current": "wrong one", "password": "x" * 10, "confirm": "x" * 10})
    assert response.status_code == 422 and "Not changed: not right." in response.text
    with app.app_context():
        assert accounts.sign_in(alice.email, PASSWORD) is not None


def test_logout_needs_a_post_so_a_link_elsewhere_cannot_sign_anyone_out(page):
    assert page.get("/logout").status_code == 405
    assert page.get("/workflows").status_code == 200, "still signed in"


def test_every_page_needs_a_session(client):
    for path in (
        "/",
        "/templates",
        "/workflows",
        "/workflows/new",
        "/history",
        "/usage",
        "/settings",
        "/audit",
        "/workflows/wf_x",
        "/executions/exec_x",
        "/templates/tpl_x",
    ):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"].startswith("/login?next="), path


def test_an_htmx_request_without_a_session_is_redirected_whole(client):
    response = client.get("/history", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/login")
    assert "HX-Request" in response.headers["Vary"]


def test_the_api_does_not_accept_the_session(page):
    response = page.get("/api/v1/workflows")
    assert response.status_code == 401 and response.is_json


def test_registration_makes_an_account_and_signs_in(client):
    token = csrf_token(client.get("/register").text)
    response = client.post(
        "/register",
        data={
            "email": "new@example.com",
            "password": "long enough pw",
            "confirm": "long enough pw",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    assert "new@example.com" in client.get("/").text


def test_registration_explains_problems_next_to_fields(client, alice):
    token = csrf_token(client.get("/register").text)
    short = client.post(
        "/register", data={"email": "x@example.com", "password": "short", "confirm": "short", "csrf_token": token}
    )
    assert short.status_code == 422 and "at least 8" in short.text
    taken = client.post(
        "/register",
        data={"email": alice.email, "password": "long enough pw", "confirm": "long enough pw", "csrf_token": token},
    )
    assert taken.status_code == 409 and "exists already" in taken.text
    differ = client.post(
        "/register",
        data={"email": "y@example.com", "password": "long enough pw", "confirm": "another one", "csrf_token": token},
    )
    assert differ.status_code == 422 and "passwords differ" in differ.text


def test_registration_can_be_switched_off(app, client):
    app.config["REGISTRATION_ENABLED"] = False
    assert client.get("/register").status_code == 404
    assert "Create an account" not in client.get("/login").text
    token = csrf_token(client.get("/login").text)
    assert (
        client.post(
            "/register",
            data={
                "email": "z@example.com",
                "password": "long enough pw",
                "confirm": "long enough pw",
                "csrf_token": token,
            },
        ).status_code
        == 404
    )


def test_a_post_without_a_csrf_token_is_refused_with_a_400_page(client, alice):
    response = client.post("/login", data={"email": alice.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.text and "error-page" in response.text
    assert client.get("/").status_code in (302, 303)  # and nobody signed in


def test_csrf_is_required_on_every_kind_of_post(page, app):
    from tests.definitions import echo_definition
    from tests.ui.conftest import create_workflow

    workflow_id = create_workflow(app, page.user, echo_definition())
    for path in (
        "/settings/keys",
        f"/workflows/{workflow_id}/delete",
        f"/workflows/{workflow_id}/run",
        f"/workflows/{workflow_id}/definition",
        "/logout",
    ):
        assert page.post(path, token=False).status_code == 400, path
        assert page.post(path, htmx=True, token=False).status_code == 400, path
    assert page.get(f"/workflows/{workflow_id}").status_code == 200  # nothing was deleted


def test_an_htmx_post_with_the_header_token_passes(page):
    response = page.post("/settings/keys", {"name": "from htmx"}, htmx=True)
    assert response.status_code == 200 and "from htmx" in response.text


def test_the_body_carries_the_token_for_htmx(page):
    """The session's token; its signature carries the second it was signed in, so two
    renders a second apart differ only there."""
    html = page.get("/").text
    carried = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', html)
    assert carried, "no token for htmx on the body"
    assert carried[1].split(".")[0] == page.token.split(".")[0]


def test_a_second_user_signs_in_separately(app, alice, bob):
    assert Page(app, bob).sign_in().get("/").status_code == 200


def test_failed_sign_ins_are_rate_limited_on_the_form(database_url, model):
    app = make_app(
        database_url,
        model.base_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_LOGIN="2 per 15 minutes",
        RATELIMIT_KEY_PREFIX=uuid.uuid4().hex,
    )
    try:
        user, _ = make_user(app, "locked@example.com")
        client = app.test_client()
        for _ in range(2):
            token = csrf_token(client.get("/login").text)
            response = client.post("/login", data={"email": user.email, "password": "wrong", "csrf_token": token})
            assert response.status_code == 401
        token = csrf_token(client.get("/login").text)
        response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
        assert "Too many failed sign-ins" in response.text
    finally:
        close_app(app)
