"""Walk every registered route as a second user against the first user's ids.

Every route is covered: a new route with an id parameter this walk does not know
fails the test until it is classified here. The answer must be 403 or 404 (or a
refusal such as 405), never data: the owner's names and ids never appear.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import make_user
from tests.definitions import echo_definition
from tests.ui.conftest import Page, create_workflow, run_and_wait
from webapp.auth import accounts
from webapp.evaluations import cases, runs
from webapp.extensions import db
from webapp.models import User
from webapp.services import providers, triggers

SECRET = "alice-private-marker"
# Routes whose parameter is not something a user owns. A webhook's token is a
# capability: whoever holds it may start the run (tests/api/test_triggers.py).
NOT_OWNED = {"static", "api.get_template", "ui.template", "ui.clone_template", "hooks.receive"}
REFUSED = {401, 403, 404, 405}


@pytest.fixture
def owned(app, alice):
    """Alice's private workflow, one of her executions, API keys, triggers, providers, a
    test case and a test run."""
    workflow_id = create_workflow(app, alice, echo_definition(), name=SECRET, description=SECRET)
    execution_id = run_and_wait(app, alice, workflow_id, {"text": SECRET})
    with app.app_context():
        user = db.session.get(User, alice.id)
        accounts.issue_api_key(user, SECRET)
        key_id = accounts.active_keys(user)[0].id
        trigger, _ = triggers.create_trigger(user, workflow_id, {"type": "webhook"})
        body = {"name": SECRET, "base_url": "https://llm.example.com/v1", "api_key": SECRET}
        provider = providers.create_provider(user, body)
        case = cases.create_case(user, workflow_id, SECRET, {"text": SECRET}, [])
        test_run = runs.start_test_run(user, workflow_id)
        ids = {"trigger_id": trigger.id, "provider_id": provider.id, "test_id": case.id, "test_run_id": test_run.id}
    return {"workflow_id": workflow_id, "execution_id": execution_id, "key_id": key_id, **ids}


def routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_refuses_another_users_things(app, alice, owned):
    mallory, mallory_key = make_user(app, "mallory@example.com")
    browser = Page(app, mallory).sign_in()
    api_headers = {"Authorization": f"Bearer {mallory_key}"}
    walked = 0
    for rule, method in routes(app):
        if not rule.arguments or rule.endpoint in NOT_OWNED:
            continue
        # ``number``: a published version of her workflow (its first); ``index``: her case's first check.
        values = {**owned, "number": "1", "index": "0"}
        unknown = rule.arguments - set(values)
        assert not unknown, f"classify {rule.rule}: what does {unknown} name, and who owns it?"
        path = rule.rule
        for name in rule.arguments:  # <name>, or with its converter: <wf:workflow_id>, <int:number>
            path = re.sub(rf"<(?:\w+:)?{name}>", values[name], path)
        if rule.endpoint.startswith("api."):
            response = browser.client.open(path, method=method, headers=api_headers, json={})
        elif method == "GET":
            response = browser.get(path)
        else:
            response = browser.post(path, {"name": "x", "rating": "5"})
        body = response.get_data(as_text=True)
        assert response.status_code in REFUSED, f"{method} {rule.rule} answered {response.status_code}"
        for secret in (SECRET, *owned.values()):  # an id the caller sent may be echoed in "not found"
            assert secret in path or secret not in body, f"{method} {rule.rule} showed {secret!r}"
        walked += 1
    assert walked >= 25  # every owned-id route, API and pages


def test_lists_show_nothing_of_another_user(app, alice, owned):
    mallory, mallory_key = make_user(app, "mallory@example.com")
    browser = Page(app, mallory).sign_in()
    pages = ["/", "/workflows", "/workflows?scope=public", "/history", "/usage", "/audit", "/settings"]
    api = ["/api/v1/workflows", "/api/v1/workflows?public=true", "/api/v1/usage", "/api/v1/audit"]
    answers = [browser.get(path) for path in pages]
    answers += [browser.client.get(path, headers={"Authorization": f"Bearer {mallory_key}"}) for path in api]
    for response in answers:
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        for secret in (SECRET, *owned.values()):
            assert secret not in body


def test_pages_accept_only_the_session_and_the_api_only_keys(app, alice, owned):
    _, alice_key = make_user(app, "alice2@example.com")
    client = app.test_client()
    response = client.get(f"/workflows/{owned['workflow_id']}", headers={"Authorization": f"Bearer {alice_key}"})
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
    signed_in = Page(app, alice).sign_in()
    assert signed_in.get(f"/workflows/{owned['workflow_id']}").status_code == 200
    assert signed_in.get("/api/v1/workflows").status_code == 401
