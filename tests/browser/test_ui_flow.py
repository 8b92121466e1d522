"""A person's first session, in Chromium: sign in, clone a template from the
gallery, change a prompt and see the editor check it, run it, watch the execution
finish live without a reload, then look at history and usage. Screenshots go to
docs/screenshots/."""

from __future__ import annotations

import json
import logging
import re
import urllib.request
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_node, screenshot
from tests.definitions import echo_definition
from tests.ui.conftest import create_workflow, run_and_wait
from webapp.extensions import db
from webapp.models import User

pytestmark = pytest.mark.browser
log = logging.getLogger(__name__)


def nav(page, name: str):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def test_clone_edit_run_and_watch(browser_page, server, gallery, model_server):
    page = browser_page

    # The gallery: search without a reload, then clone.
    nav(page, "Templates").click()
    expect(page.get_by_role("heading", name="Template gallery")).to_be_visible()
    screenshot(page, "gallery.png")
    page.evaluate("window.__stay = 1")
    page.get_by_label("Search templates").fill("description writer")
    cards = page.locator("#template-cards .tpl-card")
    expect(cards).to_have_count(1)
    assert page.evaluate("window.__stay") == 1  # the cards were swapped, the page stayed
    page.get_by_role("button", name="Use the template Product description writer").click()
    page.wait_for_url(re.compile(r".*/workflows/wf_\w+$"))
    expect(page.locator("#flash")).to_contain_text("is yours now")
    expect(page.locator(".badge-version").first).to_have_text("version 1")

    # The editor: a node opens from the graph; a bad reference is reported next to the prompt, a fix clears it.
    open_node(page, "draft")
    prompt = page.locator("#f-nodes-1-config-prompt")
    prompt.fill("Describe {{ product.name }} for {{ in.audience }}.")
    expect(page.locator("#pb-nodes-1-config-prompt")).to_contain_text("references unknown node 'product'")
    expect(page.locator("#problem-summary")).to_contain_text("1 problem")
    expect(page.locator("#editor-state")).to_have_text("Draft · not published")  # kept, problem and all
    expect(page.locator("#editor-graph")).to_be_visible()
    page.locator("#editor").scroll_into_view_if_needed()
    screenshot(page, "editor-validation.png", full_page=False)
    prompt.fill("Describe  for {{ in.audience }}. [[latency=1.5]]")
    prompt.evaluate("field => field.setSelectionRange(9, 9)")
    page.locator("#node-draft .ref-chip", has_text="in.product").click()  # inserts at the caret
    expect(prompt).to_have_value("Describe {{ in.product }} for {{ in.audience }}. [[latency=1.5]]")
    expect(page.locator("#pb-nodes-1-config-prompt")).to_be_empty()
    expect(page.locator("#problem-summary")).to_contain_text("Valid")
    page.locator("#f-nodes-1-config-temperature").fill("0.4")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator(".editor-message")).to_have_text("Published version 2.")
    expect(page.locator("#wf-head .badge-version")).to_have_text("version 2")

    # A structural edit is kept in the draft (a reload keeps it); what runs stays version 2.
    page.locator("#connections > summary").click()
    page.get_by_role("button", name="+ Add connection").click()
    expect(page.locator("#editor-state")).to_have_text("Draft · not published")
    page.reload()
    expect(page.locator("#editor-state")).to_have_text("Draft · not published")
    page.get_by_role("button", name="Revert to published").click()
    expect(page.locator("#editor-state")).to_have_text("Published v2")

    # Run it in the background and watch it finish without a reload.
    page.get_by_role("link", name="▶ Run").first.click()
    page.get_by_label("Product").fill("a solar desk lamp")
    page.get_by_label("Audience").select_option("engineers")
    screenshot(page, "run.png")
    page.get_by_role("button", name="▶ Run in background").click()
    page.wait_for_url(re.compile(r".*/executions/exec_\w+$"))
    page.evaluate("window.__stay = 2")
    status = page.locator("#execution-status")
    expect(status).to_have_text("Running")
    expect(page.locator("g.node.s-running")).to_have_count(1)
    expect(status).to_have_text("Completed", timeout=20_000)
    assert page.evaluate("window.__stay") == 2  # updated in place: no reload happened
    expect(page.locator("#live")).not_to_have_attribute("hx-trigger", re.compile(".+"))  # polling has stopped
    expect(page.locator(".outputs")).to_contain_text("Echo: Describe a solar desk lamp for engineers.")
    page.locator("#run-draft > summary").click()
    expect(page.locator("#run-draft")).to_contain_text("You write crisp product copy.")
    screenshot(page, "execution.png")

    # History and usage.
    nav(page, "History").click()
    rows = page.locator("#history-results tbody tr").filter(has_text="Product description writer")
    expect(rows).to_have_count(1)
    page.get_by_label("Status").select_option("failed")
    expect(page.locator("#history-results")).to_contain_text("No executions match")
    page.get_by_label("Status").select_option("completed")
    expect(rows).to_have_count(1)
    assert "status=completed" in page.url  # the filter is in the address, for back and reload
    screenshot(page, "history.png")
    nav(page, "Usage").click()
    expect(page.locator("svg.chart")).to_be_visible()
    expect(page.locator("#usage-report table")).to_contain_text("Product description writer")
    page.get_by_role("link", name="7 days").click()
    expect(page.locator('.segmented a[aria-current="true"]').first).to_have_text("7 days")
    expect(page.locator("svg.chart rect.bar")).to_have_count(7)
    screenshot(page, "usage.png")
    nav(page, "Dashboard").click()
    expect(page.locator(".run-list")).to_contain_text("Product description writer")
    screenshot(page, "dashboard.png")
    assert page.errors == []


def test_the_editor_and_pages_work_at_phone_width(browser_page, server, gallery):
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/templates")
    template = page.locator(".tpl-card", has_text="Product description writer")
    template.get_by_role("link", name="Preview").click()
    expect(page.locator("svg.graph")).to_be_visible()
    screenshot(page, "template-preview-phone.png", full_page=False)
    page.get_by_role("button", name="Clone into my workflows").click()
    page.wait_for_url(re.compile(r".*/workflows/wf_\w+$"))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    for link in page.locator(".topbar a").all():  # every section in view: none cut off, no sideways menu
        box = link.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, link.inner_text()
    heading = page.evaluate(
        "getComputedStyle(document.querySelector('.conn-table td[data-label]'), '::before').content"
    )
    assert heading == '"From"'  # the connection rows keep their headings
    page.mouse.wheel(0, 4000)
    expect(page.locator("#save-button")).to_be_in_viewport()  # Save stays at hand
    nav(page, "Workflows").click()
    expect(page.locator("#workflow-list")).to_contain_text("Product description writer")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "workflows-phone.png", full_page=False)


def test_keyboard_only_sign_in_and_search(chromium, server, gallery):
    context = chromium.new_context(base_url=server.url)
    page = context.new_page()
    page.goto("/login")
    # The email field takes the focus by itself (autofocus, applied after the load event).
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type("ada@example.com")
    page.keyboard.press("Tab")
    from tests.conftest import PASSWORD

    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/")
    page.goto("/templates")
    page.get_by_label("Search templates").focus()
    page.keyboard.type("writer")
    expect(page.locator("#template-cards")).to_contain_text("Product description writer")
    context.close()


def test_api_keys_copy_button(browser_page):
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/settings")
    page.get_by_label("Key name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-api-key")
    expect(key).to_contain_text("wfk_")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied ✓")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke laptop").click()
    expect(page.locator("#api-keys")).to_contain_text("The key is revoked")


def test_structural_edits_in_the_editor(browser_page, server, gallery):
    page = browser_page
    page.goto("/templates?q=description+writer")
    page.get_by_role("button", name="Use the template Product description writer").click()
    page.wait_for_url(re.compile(r".*/workflows/wf_\w+$"))

    # A new operation brings its own options; the others go.
    open_node(page, "trim")
    page.locator("#f-nodes-4-config-operation").select_option("split")
    expect(page.locator("#f-nodes-4-config-separator")).to_be_visible()
    expect(page.locator("#f-nodes-4-config-length")).to_have_count(0)

    # Add a node after 'draft': it is connected, and the graph shows it.
    page.get_by_label("New node type").select_option("processing")
    page.get_by_label("Connect it from").select_option("draft")
    page.get_by_role("button", name="+ Add node").click()
    expect(page.locator("#node-step")).to_be_visible()
    expect(page.locator("#editor-graph")).to_contain_text("step")
    expect(page.locator("#f-nodes-6-config-template")).to_have_value("{{ draft.text }}")
    page.locator("#f-nodes-6-config-template").fill("{{ nowhere.text }}")
    expect(page.locator("#pb-nodes-6-config-template")).to_contain_text("unknown node 'nowhere'")

    # Remove it again, rename a node (its connections follow), and look at the JSON.
    page.get_by_label("Remove node step…").click()
    page.get_by_role("button", name="Remove step with its connections").click()
    expect(page.locator("#node-step")).to_have_count(0)
    open_node(page, "words")
    page.locator("#f-nodes-2-id").fill("counter")
    page.locator("#f-nodes-2-id").press("Tab")
    expect(page.locator("#f-connections-1-to")).to_have_value("counter")
    page.get_by_role("button", name="JSON").click()
    expect(page.locator("#definition_json")).to_contain_text('"id": "counter"')
    page.locator("#definition_json").fill('{"nodes": [')
    expect(page.locator("#pb-definition_json")).to_contain_text("not valid JSON")
    assert page.errors == []


def test_adding_a_webhook_and_calling_it(browser_page, server):
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    with server.app.app_context():
        user = db.session.query(User).filter_by(email="ada@example.com").one()
        ada = SimpleNamespace(id=user.id)
    workflow_id = create_workflow(server.app, ada, echo_definition(), name="Hooked")
    page.goto(f"/workflows/{workflow_id}")
    panel = page.locator("#triggers")
    panel.get_by_role("button", name="+ Add a webhook").click()
    url = panel.locator("code.key-value").first
    expect(url).to_contain_text("/hooks/")
    panel.get_by_role("button", name="Copy").click()
    expect(panel.get_by_role("button", name="Copied ✓")).to_be_visible()
    hook = urllib.request.Request(
        url.inner_text().strip(), data=b'{"text": "from outside"}', headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(hook, timeout=10) as answer:
        assert json.loads(answer.read())["outputs"] == {"result": "FROM OUTSIDE"}
    panel.get_by_text("+ Add a schedule").click()
    panel.get_by_label("Cron expression").fill("*/15 * * * *")
    panel.get_by_label("Inputs (JSON)").fill('{"text": "tick"}')
    panel.get_by_role("button", name="Add schedule").click()
    expect(panel).to_contain_text("cron */15 * * * * (UTC)")
    expect(panel).to_contain_text("Next runs (UTC):")
    assert page.errors == []


def test_adding_a_provider_in_settings(browser_page, model_server):
    page = browser_page
    page.goto("/settings")
    section = page.locator("#providers")
    section.get_by_text("+ Add a provider").click()
    section.get_by_label("Name").fill("workstation")
    section.get_by_label("Base URL").fill("http://10.1.2.3:11434/v1")
    section.get_by_label("API key").fill("sk-browser-test-9876")
    section.get_by_label("Models").fill("llama3.1, qwen2.5")
    section.get_by_role("button", name="Add provider").click()
    expect(section.locator("table")).to_contain_text("workstation")
    expect(section.locator("table")).to_contain_text("…9876")
    assert "sk-browser-test-9876" not in page.content()
    section.get_by_role("button", name="Test workstation").click()
    expect(section.locator(".alert-error")).to_contain_text("private")  # 10.0.0.0/8: the outbound rules refuse it
    page.once("dialog", lambda dialog: dialog.accept())
    section.get_by_role("button", name="Delete workstation").click()
    expect(section).to_contain_text("None yet")
    assert page.errors == []


def test_leaving_the_page_keeps_the_draft_and_the_badge_tells_the_truth(browser_page, server):
    """No question on leaving: what is typed is kept (by the check as one types, and by a
    beacon as the page goes); Save keeps the settings with it."""
    page = browser_page
    with server.app.app_context():
        ada = SimpleNamespace(id=db.session.query(User).filter_by(email="ada@example.com").one().id)
    workflow_id = create_workflow(server.app, ada, echo_definition(), name="Guarded")
    page.goto(f"/workflows/{workflow_id}")
    state = page.locator("#editor-state")
    expect(state).to_have_text("Published v1")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    open_node(page, "shout")
    page.locator('[name="nodes[1].config.input"]').fill("{{ in.text }} and more")
    nav(page, "History").click()  # at once: the beacon keeps it if the check had no time to
    page.wait_for_url(re.compile(r".*/history$"))
    assert dialogs == []
    page.go_back()
    page.reload()
    open_node(page, "shout")
    expect(page.locator('[name="nodes[1].config.input"]')).to_have_value("{{ in.text }} and more")
    expect(state).to_have_text("Draft · not published")
    page.locator(".settings-card summary").click()
    page.get_by_label("Name", exact=True).fill("Guarded and renamed")  # a setting: the same one Save
    page.locator("#save-button").click()
    expect(page.locator(".editor-message")).to_have_text("Draft saved.")
    expect(page.locator("#wf-head h1")).to_have_text("Guarded and renamed")
    expect(state).to_have_text("Draft · not published")
    assert page.errors == []


def test_settings_in_the_nav_usage_at_phone_width_and_a_short_password_told_beside_its_field(
    browser_page, chromium, server
):
    page = browser_page
    with server.app.app_context():
        ada = SimpleNamespace(id=db.session.query(User).filter_by(email="ada@example.com").one().id)
    # A run of a workflow with a long name: a wide filter and a wide table row.
    name = "Weekly digest of every support ticket, with a summary for the whole team"
    run_and_wait(server.app, ada, create_workflow(server.app, ada, echo_definition(), name=name), {"text": "hi"})
    page.set_viewport_size({"width": 390, "height": 844})
    nav(page, "Settings").click()
    page.wait_for_url(f"{server.url}/settings")
    nav(page, "Usage").click()
    page.wait_for_url(re.compile(r".*/usage"))
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        "[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 391)"
        ".slice(0, 5).map(e => e.tagName + '.' + e.className)"
    )
    assert width <= 390, f"Usage is {width}px wide on a 390px screen: {wide}"
    assert page.errors == []
    context = chromium.new_context(base_url=server.url)
    signing_up = context.new_page()
    signing_up.goto("/register")
    signing_up.get_by_label("Email").fill("new@example.com")
    signing_up.get_by_label("Password", exact=True).fill("short")
    signing_up.get_by_label("Repeat the password").fill("short")
    signing_up.get_by_role("button", name="Create account").click()
    # The server's words beside the field, not a browser tooltip that blocks the post.
    expect(signing_up.locator("#password-error")).to_have_text("Use at least 8 characters.")
    context.close()
