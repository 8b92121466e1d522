"""Model output never runs in the browser. A model answers with an <img onerror>, a
<script>, a javascript: link and htmx attributes that would fire a request on load;
in a text output and a markdown output, on the run form's result and the live
execution page, nothing executes, no request fires, and the text shows as text."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import create_workflow

pytestmark = pytest.mark.browser

PAYLOAD = (
    '<img src="/pwned-img" onerror="window.__pwned = \'img\'"> '
    "<script>window.__pwned = 'script'</script> "
    "<svg onload=\"window.__pwned = 'svg'\"></svg> "
    '<a id="evil-link" href="javascript:window.__pwned = \'link\'">click me</a> '
    '<div hx-get="/pwned-htmx" hx-trigger="load">htmx bait</div> '
    '<button hx-post="/logout" hx-trigger="load">sign out bait</button> '
    "**bold** text"
)


def hostile_workflow() -> dict:
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string", "required": True}]}},
            {"id": "gen", "type": "ai_model", "config": {"prompt": "{{ in.text }}"}},
            {"id": "plain", "type": "output", "config": {"fields": {"answer": "{{ gen.text }}"}}},
            {"id": "rich", "type": "output", "config": {"template": "{{ gen.text }}", "format": "markdown"}},
        ],
        "connections": [{"from": "in", "to": "gen"}, {"from": "gen", "to": "plain"}, {"from": "gen", "to": "rich"}],
    }


def watch_requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


def assert_inert(page, requests: list[str]) -> None:
    page.wait_for_timeout(700)  # time for anything that would fire on load to have fired
    assert page.evaluate("window.__pwned") is None
    assert not [url for url in requests if "pwned" in url or url.endswith("/logout")], requests
    assert page.locator("#evil-link").count() == 0
    assert page.locator("[hx-get='/pwned-htmx']").count() == 0
    assert page.evaluate("document.cookie") == ""  # HttpOnly: not readable even if something ran


def test_hostile_model_output_stays_text(browser_page, server, model_server):
    page = browser_page
    model_server.reply_when("attack", PAYLOAD)
    user = type("U", (), {"id": _user_id(server, "ada@example.com")})
    workflow_id = create_workflow(server.app, user, hostile_workflow(), name="Hostile answers")
    requests = watch_requests(page)

    # Run and wait: the result is swapped into the run page by htmx.
    page.goto(f"/workflows/{workflow_id}/run")
    page.get_by_label("Text").fill("attack")
    page.get_by_role("button", name="Run and wait").click()
    result = page.locator(".run-result")
    expect(result).to_contain_text("<script>window.__pwned = 'script'</script>")  # shown, as text
    expect(result.locator(".output-markdown strong")).to_have_text("bold")  # markdown still renders
    assert_inert(page, requests)
    assert page.locator(".run-result [hx-disable]").count() >= 1

    # The live execution page, polled by htmx until it finishes.
    page.get_by_role("link", name="Open the execution →").click()
    page.wait_for_url(re.compile(r".*/executions/exec_\w+$"))
    expect(page.locator("#execution-status")).to_have_text("Completed")
    outputs = page.locator(".outputs")
    expect(outputs.locator("pre.output").first).to_contain_text('<img src="/pwned-img" onerror=')
    expect(outputs.locator(".output-markdown")).to_contain_text('<div hx-get="/pwned-htmx" hx-trigger="load">')
    page.locator("#run-gen > summary").click()
    expect(page.locator("#run-gen pre.output").last).to_contain_text("<svg onload=")
    assert_inert(page, requests)

    # A background run: the same page goes from running to done through htmx swaps.
    page.goto(f"/workflows/{workflow_id}/run")
    page.get_by_label("Text").fill("attack [[latency=1]]")
    page.get_by_role("button", name="▶ Run in background").click()
    page.wait_for_url(re.compile(r".*/executions/exec_\w+$"))
    expect(page.locator("#execution-status")).to_have_text("Completed", timeout=15_000)
    expect(page.locator(".outputs")).to_contain_text("sign out bait")
    assert_inert(page, requests)
    assert page.errors == [], page.errors
    page.goto("/settings")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()  # still signed in: no hx-post /logout fired


def _user_id(server, email: str) -> str:
    from webapp.auth.accounts import user_by_email

    with server.app.app_context():
        return user_by_email(email).id
