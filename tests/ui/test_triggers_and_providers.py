"""The Triggers panel of a workflow page and Settings → Model providers."""

from __future__ import annotations

import re

from tests.definitions import echo_definition, model_definition
from tests.ui.conftest import create_workflow, in_app
from tests.ui.forms import form_fields
from webapp.services import triggers

SECRET = "sk-ui-provider-5678"


def test_the_owner_adds_a_webhook_and_a_schedule_and_sees_them(page, app):
    workflow_id = create_workflow(app, page.user, echo_definition())
    html = page.get(f"/workflows/{workflow_id}").text
    assert 'id="triggers"' in html and "None yet" in html
    added = page.post(f"/workflows/{workflow_id}/triggers", {"type": "webhook"}, htmx=True).text
    url = re.search(r'<code id="hook-trg_\w+" class="key-value">(http[^<]+)</code>', added).group(1)
    assert "/hooks/" in url and 'data-copy="#hook-trg_' in added and f"'{url}?async=true'" in added
    bad = page.post(
        f"/workflows/{workflow_id}/triggers",
        {"type": "schedule", "timing": "cron", "cron": "every day", "timezone": "UTC", "inputs": '{"text": "x"}'},
        htmx=True,
    )
    assert bad.status_code == 422
    assert "five fields" in re.search(r'id="trigger-cron-error">([^<]*)<', bad.text).group(1)
    assert 'value="every day"' in bad.text  # what was typed stays
    good = page.post(
        f"/workflows/{workflow_id}/triggers",
        {
            "type": "schedule",
            "timing": "cron",
            "cron": "0 9 * * 1-5",
            "timezone": "Europe/Paris",
            "inputs": '{"text": "daily"}',
        },
        htmx=True,
    ).text
    assert "cron <code>0 9 * * 1-5</code> (Europe/Paris)" in good
    upcoming = good[good.index("Next runs (Europe/Paris):") : good.index("</p>", good.index("Next runs"))]
    times = re.findall(r"(Mon|Tue|Wed|Thu|Fri) \d{1,2} [A-Z][a-z]{2}, 09:00", upcoming)
    assert len(times) == 5  # five weekday mornings, in words, in the schedule's own zone
    schedule_id = list(dict.fromkeys(re.findall(r"/triggers/(trg_\w+)/toggle", good)))[1]
    disabled = page.post(f"/triggers/{schedule_id}/toggle", {}, htmx=True).text
    assert "disabled</span>" in disabled and ">Enable</button>" in disabled
    remaining = page.post(f"/triggers/{schedule_id}/delete", {}, htmx=True).text
    assert schedule_id not in remaining and url in remaining


def test_someone_elses_public_workflow_shows_no_triggers(page, app, bob):
    workflow_id = create_workflow(app, bob, echo_definition(), public=True)
    in_app(app, lambda u: triggers.create_trigger(u, workflow_id, {"type": "webhook"}), user_id=bob.id)
    html = page.get(f"/workflows/{workflow_id}").text
    assert 'id="triggers"' not in html and "/hooks/" not in html
    assert page.post(f"/workflows/{workflow_id}/triggers", {"type": "webhook"}).status_code == 403


def test_the_execution_page_and_history_say_what_started_a_run(page, app, client):
    workflow_id = create_workflow(app, page.user, echo_definition())
    added = page.post(f"/workflows/{workflow_id}/triggers", {"type": "webhook"}, htmx=True).text
    path = "/hooks/" + re.search(r"/hooks/([A-Za-z0-9_-]+)</code>", added).group(1)
    execution_id = client.post(path, json={"text": "hook"}).json["execution_id"]
    assert "by a webhook" in page.get(f"/executions/{execution_id}").text
    assert '<span class="badge">webhook</span>' in page.get("/history").text


def test_settings_add_test_and_delete_a_provider_without_showing_its_key(page, app, model):
    app.config["HTTP_ALLOWED_HOSTS"] = "127.0.0.1"  # the loopback model server stands for the provider
    fields = {"name": "local", "base_url": model.base_url, "api_key": SECRET, "models": "local-llama, tiny-test-model"}
    bad = page.post("/settings/providers", {**fields, "base_url": "ftp://nope"}, htmx=True)
    assert bad.status_code == 422 and "http or https" in bad.text and SECRET not in bad.text
    made = page.post("/settings/providers", fields, htmx=True).text
    assert "<code>local</code>" in made and "…5678" in made and SECRET not in made
    assert SECRET not in page.get("/settings").text
    provider_id = re.search(r"/settings/providers/(prv_\w+)/test", made).group(1)
    tested = page.post(f"/settings/providers/{provider_id}/test", {}, htmx=True).text
    assert "Connected: 3 models" in tested and "tiny-test-model" in tested
    editor = page.get(f"/workflows/{create_workflow(app, page.user, model_definition())}").text
    provider = re.search(r'<select[^>]*name="nodes\[1\]\.config\.provider".*?</select>', editor, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"', provider) == ["", "local"]  # the server's, then one's own
    gone = page.post(f"/settings/providers/{provider_id}/delete", {}, htmx=True).text
    assert "<code>local</code>" not in gone


def test_a_provider_is_edited_in_place_its_key_kept_unless_typed(page, app, other_page):
    fields = {"name": "local", "base_url": "http://10.0.0.5/v1", "api_key": SECRET, "models": "llama3.1"}
    made = page.post("/settings/providers", fields, htmx=True).text
    provider_id = re.search(r"/settings/providers/(prv_\w+)/test", made).group(1)
    # Without JavaScript the settings page itself opens the form; with htmx, the panel alone.
    for html in (
        page.get(f"/settings?edit_provider={provider_id}").text,
        page.get(f"/settings/providers?edit_provider={provider_id}", htmx=True).text,
    ):
        form = dict(form_fields(html, "provider-edit-form"))
        assert (form["name"], form["base_url"], form["models"], form["api_key"]) == (
            "local",
            "http://10.0.0.5/v1",
            "llama3.1",
            "",
        )
        assert "key ending …5678 is kept" in html and SECRET not in html
    taken = page.post("/settings/providers", {**fields, "name": "other"}, htmx=True)
    assert taken.status_code == 200
    clash = page.post(f"/settings/providers/{provider_id}", {**fields, "name": "other", "api_key": ""}, htmx=True)
    assert clash.status_code == 422 and "Edit <code>local</code>" in clash.text  # told in the same form
    edited = {**fields, "name": "ollama", "api_key": "", "models": "llama3.1, qwen2", "prices": ""}
    saved = page.post(f"/settings/providers/{provider_id}", edited, htmx=True)
    assert saved.status_code == 200 and "<code>ollama</code>" in saved.text and "llama3.1, qwen2" in saved.text
    assert "…5678" in saved.text  # the key left empty was kept
    assert other_page.post(f"/settings/providers/{provider_id}", edited, htmx=True).status_code == 404


def test_testing_a_provider_at_a_blocked_address_says_so(page):
    fields = {"name": "meta", "base_url": "http://169.254.169.254/v1", "api_key": "", "models": ""}
    made = page.post("/settings/providers", fields, htmx=True).text
    provider_id = re.search(r"/settings/providers/(prv_\w+)/test", made).group(1)
    tested = page.post(f"/settings/providers/{provider_id}/test", {}, htmx=True).text
    assert "alert-error" in tested and "link-local" in tested


def test_a_trigger_past_the_users_bound_is_refused_with_the_reason_in_the_panel(page, app):
    app.config["MAX_TRIGGERS_PER_USER"] = 1
    workflow_id = create_workflow(app, page.user, echo_definition())
    assert page.post(f"/workflows/{workflow_id}/triggers", {"type": "webhook"}, htmx=True).status_code == 200
    refused = page.post(f"/workflows/{workflow_id}/triggers", {"type": "webhook"}, htmx=True)
    assert refused.status_code == 409 and "MAX_TRIGGERS_PER_USER" in refused.text
    assert refused.text.count('<li class="trigger') == 1
