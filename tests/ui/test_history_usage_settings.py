"""History, usage, settings (API keys) and the audit log."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.definitions import echo_definition, model_definition
from tests.ui.conftest import both_databases, create_workflow, run_and_wait
from webapp.extensions import db
from webapp.models import Execution, utcnow

database_url = both_databases  # these pages read queries that differ by database


def test_history_lists_my_executions_with_filters(page, app, model):
    shout = create_workflow(app, page.user, echo_definition(), name="Shouter")
    ask = create_workflow(app, page.user, model_definition(retries=0), name="Asker")
    first = run_and_wait(app, page.user, shout, {"text": "a"})
    failed = run_and_wait(app, page.user, ask, {"text": "b [[status=500]]"})
    html = page.get("/history").text
    assert first[-10:] in html and failed[-10:] in html and "Shouter" in html and "Asker" in html
    by_status = page.get("/history?status=failed", htmx=True).text
    assert by_status.lstrip().startswith('<div id="history-results"')
    assert failed[-10:] in by_status and first[-10:] not in by_status
    by_workflow = page.get(f"/history?workflow={shout}", htmx=True).text
    assert first[-10:] in by_workflow and failed[-10:] not in by_workflow
    today = utcnow().date()
    in_range = page.get(f"/history?since={today}&until={today}", htmx=True).text
    assert first[-10:] in in_range
    before = page.get(f"/history?until={today - timedelta(days=2)}", htmx=True).text
    assert "No executions match" in before
    assert page.get("/history?since=not-a-date&status=bogus").status_code == 200


def test_history_paginates_and_keeps_deleted_workflows_names(page, app, model):
    workflow_id = create_workflow(app, page.user, echo_definition(), name="Soon gone")
    ids = [run_and_wait(app, page.user, workflow_id, {"text": str(n)}) for n in range(3)]
    with app.app_context():  # 20 more rows (the database counts them), quicker than running them
        for n in range(20):
            db.session.add(
                Execution(
                    workflow_id=workflow_id,
                    workflow_version=1,
                    user_id=page.user.id,
                    status="completed",
                    inputs={"text": str(n)},
                    created_at=utcnow() - timedelta(hours=n + 1),
                )
            )
        db.session.commit()
    page.post(f"/workflows/{workflow_id}/delete")
    first = page.get("/history").text
    assert "1–20 of 23" in first and "(deleted)" in first and ids[-1][-10:] in first
    second = page.get("/history?page=2", htmx=True).text
    assert "21–23 of 23" in second


def test_history_polls_while_something_runs(page, app, model):
    workflow_id = create_workflow(app, page.user, model_definition(), name="Slow")
    page.post(f"/workflows/{workflow_id}/run", {"inputs.text": "x [[latency=2]]"}, htmx=True)
    html = page.get("/history", htmx=True).text
    assert 'hx-trigger="every 3s"' in html


def test_usage_shows_a_chart_and_a_table(page, app, model):
    workflow_id = create_workflow(app, page.user, model_definition(), name="Asker")
    run_and_wait(app, page.user, workflow_id, {"text": "count these words please"})
    html = page.get("/usage").text
    assert '<svg class="chart"' in html and 'class="bar"' in html
    assert "Asker" in html and "30 days" in html
    tokens = re.search(r'Tokens</span><span class="stat-value">([\d,]+)<', html).group(1)
    assert int(tokens.replace(",", "")) > 0
    for days in (7, 30, 90):
        fragment = page.get(f"/usage?days={days}&metric=cost", htmx=True).text
        assert fragment.lstrip().startswith('<div id="usage-report"')
        assert fragment.count('<rect class="bar') == days
        assert f'aria-current="true">{days} days' in fragment
    assert page.get("/usage?days=5000&metric=evil").status_code == 200
    filtered = page.get(f"/usage?workflow={workflow_id}").text
    assert "Asker" in filtered


def test_api_keys_are_shown_once_and_revocable(page, app):
    response = page.post("/settings/keys", {"name": "workstation"}, htmx=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    key = re.search(r'<code id="new-api-key" class="key-value">(wfk_[^<]+)</code>', response.text).group(1)
    assert 'data-copy="#new-api-key"' in response.text
    assert page.client.get("/api/v1/workflows", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    settings = page.get("/settings").text
    assert "workstation" in settings and key not in settings and key[:12] in settings  # masked from now on
    key_id = re.search(r"/settings/keys/(key_\w+)/revoke", settings).group(1)
    revoked = page.post(f"/settings/keys/{key_id}/revoke", htmx=True)
    assert revoked.status_code == 200 and "revoked" in revoked.text and "workstation" not in revoked.text
    assert page.client.get("/api/v1/workflows", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert page.post("/settings/keys/key_nope/revoke", htmx=True).status_code == 404


def test_keys_of_another_user_cannot_be_revoked(page, other_page):
    other_page.post("/settings/keys", {"name": "bob's"}, htmx=True)
    key_id = re.search(r"/settings/keys/(key_\w+)/revoke", other_page.get("/settings").text).group(1)
    assert page.post(f"/settings/keys/{key_id}/revoke", htmx=True).status_code == 404
    assert "bob&#39;s" in other_page.get("/settings").text


def test_audit_lists_my_events(page, other_page, app):
    workflow_id = create_workflow(app, page.user, echo_definition(), name="Audited")
    page.post("/settings/keys", {"name": "k"}, htmx=True)
    html = page.get("/audit").text
    assert "Signed in" in html and "API key created" in html and "Workflow created" in html
    assert f'href="/workflows/{workflow_id}"' in html
    assert "bob@example.com" not in html
    assert "Audited" not in other_page.get("/audit").text and workflow_id not in other_page.get("/audit").text
    assert page.get("/audit?page=2", htmx=True).status_code == 200
