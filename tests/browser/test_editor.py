"""The graph-first editor in Chromium: the graph is how one moves around, one node's
form at a time in the side panel, "+" on a connection, removing with or without
reconnecting, undo, keyboard-only editing, one Save for settings and draft, the draft
kept as one types and published as the next version."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_node, screenshot
from tests.definitions import echo_definition
from tests.ui.conftest import create_workflow, in_app
from webapp.extensions import db
from webapp.models import User, Workflow, WorkflowDraft
from webapp.services.providers import create_provider, delete_provider

pytestmark = pytest.mark.browser
LINKS = "#editor-graph a.node-link"


def ada(server) -> SimpleNamespace:
    with server.app.app_context():
        return SimpleNamespace(id=db.session.query(User).filter_by(email="ada@example.com").one().id)


def clone(page, query: str) -> None:
    page.goto(f"/templates?q={query}")
    page.locator(".tpl-card button").first.click()
    page.wait_for_url(re.compile(r".*/workflows/wf_\w+$"))


def flow(page):
    """The connections as the graph draws them (its description: "a → b, b → c")."""
    return expect(page.locator("#editor-graph svg desc"))


def tabs_until(page, is_there: str, limit: int) -> int:
    """Presses Tab until ``is_there`` (a script on the focused element) holds; how many."""
    for count in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate(f"(el => {is_there})(document.activeElement)"):
            return count
    raise AssertionError(f"not reached in {limit} tab stops")


def test_the_12_node_template_is_edited_one_node_at_a_time_in_a_short_page(browser_page, gallery):
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/templates?q=blog+article")
    page.locator(".tpl-card").first.get_by_role("link", name="Preview").click()
    expect(page.locator("svg.graph")).to_be_visible()
    screenshot(page, "template-preview.png")
    clone(page, "blog+article")
    ids = page.locator(LINKS).evaluate_all("links => links.map(a => a.getAttribute('data-node'))")
    assert len(ids) == 12
    expect(page.locator("#panel-pick")).to_be_visible()  # nothing open yet: the list of nodes
    tallest = page.evaluate("document.documentElement.scrollHeight")
    for node_id in ids:
        open_node(page, node_id)
        expect(page.locator(f".node-panel .node-card[data-node='{node_id}']")).to_be_visible()
        expect(page.locator(".node-panel .node-card:visible")).to_have_count(1)
        expect(page.locator(f"{LINKS}[data-node='{node_id}'] g.node")).to_have_class(re.compile("is-selected"))
        tallest = max(tallest, page.evaluate("document.documentElement.scrollHeight"))
    assert tallest < 4000, f"the editor grew to {tallest}px"
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("body").click(position={"x": 5, "y": 5})
    assert tabs_until(page, "el.id === 'save-button'", 80) <= 60  # was 390 in the long form
    page.set_viewport_size({"width": 1280, "height": 1100})
    open_node(page, ids[3])
    page.evaluate("window.scrollTo(0, document.getElementById('editor').offsetTop - 70)")
    screenshot(page, "editor.png", full_page=False)


def test_insert_on_a_connection_remove_and_reconnect_then_undo(browser_page, server):
    page = browser_page
    workflow_id = create_workflow(server.app, ada(server), echo_definition(), name="Reshaped")
    page.goto(f"/workflows/{workflow_id}")
    expect(page.get_by_role("button", name="↶ Undo")).to_be_disabled()
    expect(page.get_by_role("button", name="Revert to published")).to_be_disabled()

    page.get_by_label("New node type").select_option("processing")
    page.get_by_role("button", name="Insert a node between shout and out").click()
    expect(page.locator("#node-step")).to_be_visible()  # opened, and the keyboard is on its id
    expect(page.locator("#f-nodes-3-id")).to_be_focused()
    flow(page).to_have_text("in → shout, shout → step, step → out")
    expect(page.locator("#f-nodes-3-config-template")).to_have_value("{{ shout.value }}")  # starts from what comes in

    open_node(page, "shout")
    page.get_by_label("Remove node shout…").click()
    page.get_by_role("button", name="Remove shout, connecting what came in to what went out").click()
    expect(page.locator("#node-shout")).to_have_count(0)
    flow(page).to_have_text("in → step, step → out")
    expect(page.locator("#panel-pick")).to_be_visible()

    page.get_by_role("button", name="↶ Undo").click()
    expect(page.locator("#node-shout")).to_have_count(1)
    flow(page).to_have_text("in → shout, shout → step, step → out")
    page.get_by_role("button", name="↶ Undo").click()
    expect(page.locator("#node-step")).to_have_count(0)
    flow(page).to_have_text("in → shout, shout → out")
    expect(page.get_by_role("button", name="↶ Undo")).to_be_disabled()
    expect(page.locator("#editor-state")).to_have_text("Published v1")  # back where it started

    open_node(page, "shout")  # typing alone can be reverted too
    page.locator("#f-nodes-1-config-input").fill("{{ in.text }} changed")
    page.get_by_role("button", name="Revert to published").click()
    expect(page.locator("#f-nodes-1-config-input")).to_have_value("{{ in.text }}")
    expect(page.locator("#editor-state")).to_have_text("Published v1")
    assert page.errors == []


def test_keyboard_only_editing_of_one_node(browser_page, server):
    page = browser_page
    workflow_id = create_workflow(server.app, ada(server), echo_definition(), name="Keys")
    page.goto(f"/workflows/{workflow_id}")
    page.get_by_role("button", name="Graph & nodes").focus()
    tabs_until(page, "el.matches('a.node-link')", 10)  # the graph is the next stop
    page.keyboard.press("ArrowDown")
    expect(page.locator(f"{LINKS}[data-node='shout']")).to_be_focused()
    page.keyboard.press("Space")  # as Enter does
    expect(page.locator("#f-nodes-1-id")).to_be_focused()  # the panel opened on its first field
    tabs_until(page, "el.name === 'nodes[1].config.input'", 8)
    page.keyboard.press("End")
    page.keyboard.type(" again")
    page.keyboard.press("Escape")  # back to the node in the graph, the edit kept
    expect(page.locator("#node-shout")).to_be_hidden()
    expect(page.locator(f"{LINKS}[data-node='shout']")).to_be_focused()
    page.keyboard.press("Control+s")
    expect(page.locator(".editor-message")).to_have_text(re.compile(r"^(Draft saved|No changes to save)\.$"))
    with server.app.app_context():
        saved = db.session.get(WorkflowDraft, workflow_id).definition
        published = db.session.get(Workflow, workflow_id).definition
    assert saved["nodes"][1]["config"]["input"] == "{{ in.text }} again"
    assert published["nodes"][1]["config"]["input"] == "{{ in.text }}"  # nothing runs it before Publish
    assert page.errors == []


def test_one_save_keeps_a_rename_and_a_prompt_change_together(browser_page, server, gallery):
    page = browser_page
    clone(page, "description+writer")
    page.locator(".settings-card summary").click()
    page.get_by_label("Name", exact=True).fill("Lamp copy")
    open_node(page, "draft")
    page.locator("#f-nodes-1-config-prompt").fill("Sell {{ in.product }} to {{ in.audience }}.")
    page.locator("#save-button").click()
    expect(page.locator(".editor-message")).to_have_text(re.compile(r"^(Draft saved|No changes to save)\.$"))
    page.reload()
    expect(page.locator("#wf-head h1")).to_have_text("Lamp copy")
    expect(page.locator("#f-nodes-1-config-prompt")).to_have_value("Sell {{ in.product }} to {{ in.audience }}.")
    assert page.errors == []


def test_the_editor_at_phone_width_opens_nodes_below_the_graph(browser_page, server, gallery):
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    clone(page, "description+writer")
    open_node(page, "draft")
    card = page.locator("#node-draft")
    expect(card).to_be_visible()
    graph, panel = page.locator("#editor-graph").bounding_box(), card.bounding_box()
    assert panel["y"] > graph["y"] and panel["x"] >= 0 and panel["x"] + panel["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.locator("#save-button")).to_be_in_viewport()
    card.scroll_into_view_if_needed()
    screenshot(page, "editor-phone.png", full_page=False)


def test_the_12_node_templates_execution_graph_fits_1440px_beside_its_nodes(browser_page, gallery):
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    clone(page, "blog+article")
    page.goto(f"{page.url}/run")
    page.get_by_role("button", name="Run in background").click()  # the form starts from the examples
    page.wait_for_url(re.compile(r".*/executions/exec_\w+$"))
    expect(page.locator("#execution-status")).to_have_text(re.compile("Completed|Failed"), timeout=30_000)
    graph = page.locator(".run-graph svg.graph").bounding_box()
    nodes = page.locator(".node-runs").bounding_box()
    assert graph["x"] >= 0 and graph["x"] + graph["width"] <= nodes["x"], "the graph sits beside the nodes"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    expect(page.locator(".run-graph .graph-hint:visible")).to_have_count(0)  # nothing to scroll sideways
    expect(page.locator(".run-graph a.node-link")).to_have_count(12)
    assert page.errors == []
    screenshot(page, "execution-graph.png", full_page=False)


def test_build_keep_publish_restore_without_pressing_save(browser_page, server):
    """The loop of issue 33: a prompt typed with no button pressed survives a reload and
    changes nothing that runs; one's own workflow is never read only after a save;
    Publish (with a note, from the keyboard) makes the next version; an old version
    goes back into the draft; and the bar fits a phone."""
    page = browser_page
    workflow_id = create_workflow(server.app, ada(server), echo_definition(), name="Drafted")
    page.goto(f"/workflows/{workflow_id}")
    expect(page.locator("#editor-state")).to_have_text("Published v1")
    open_node(page, "shout")
    page.locator("#f-nodes-1-config-input").fill("{{ in.text }} typed")
    expect(page.locator("#editor-state")).to_have_text("Draft · not published")  # kept by the check
    page.reload()
    expect(page.locator("#f-nodes-1-config-input")).to_have_value("{{ in.text }} typed")
    with server.app.app_context():
        assert db.session.get(Workflow, workflow_id).definition["nodes"][1]["config"]["input"] == "{{ in.text }}"

    page.keyboard.press("Control+s")  # even "No changes to save" redraws the header: it stays the owner's
    expect(page.locator(".editor-message")).to_have_text("No changes to save.")
    expect(page.locator("#wf-head")).not_to_contain_text("read only")
    expect(page.locator("#wf-head").get_by_role("button", name="Delete")).to_be_visible()
    expect(page.locator("#wf-head").get_by_role("button", name="Duplicate")).to_be_visible()

    page.locator("#publish_note").focus()
    page.keyboard.type("Says more")
    page.keyboard.press("Enter")
    expect(page.locator(".editor-message")).to_have_text("Published version 2.")
    expect(page.locator("#editor-state")).to_have_text("Published v2")
    expect(page.locator("#wf-head .badge-version")).to_have_text("version 2")
    with server.app.app_context():
        assert db.session.get(Workflow, workflow_id).definition["nodes"][1]["config"]["input"] == "{{ in.text }} typed"
    page.locator("#versions summary").click()
    expect(page.locator("#versions .version-row").first).to_contain_text("Says more")

    page.get_by_role("button", name="Restore into draft (version 1)").click()
    expect(page.locator(".editor-message")).to_contain_text("Version 1 is in the draft now")
    expect(page.locator("#editor-state")).to_have_text("Draft · not published")
    page.reload()
    expect(page.locator("#f-nodes-1-config-input")).to_have_count(1)
    assert page.locator("#f-nodes-1-config-input").input_value() == "{{ in.text }}"

    page.set_viewport_size({"width": 390, "height": 844})
    publish = page.locator("#publish-button")
    publish.scroll_into_view_if_needed()
    box = publish.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "editor-publish-390.png", full_page=False)
    assert page.errors == []


def test_the_test_panel_runs_the_draft_and_the_field_picker_inserts_a_reference(browser_page, server):
    page = browser_page
    workflow_id = create_workflow(server.app, ada(server), echo_definition(), name="Tried")
    page.goto(f"/workflows/{workflow_id}")
    page.locator("#test-panel summary").click()
    page.locator("#test-panel").get_by_label("Text").fill("hello panel")
    page.get_by_role("button", name="▶ Run the draft").click()
    expect(page.locator(".editor-message")).to_have_text("Test run: completed.")
    open_node(page, "shout")
    beside = page.locator("#node-shout .node-test")
    expect(beside).to_contain_text("hello panel")  # its input
    expect(beside).to_contain_text("HELLO PANEL")  # its output
    open_node(page, "out")
    template = page.locator("#node-out textarea, #node-out input[name$='.template']").first
    template.fill("Said: ")
    template.evaluate("field => field.setSelectionRange(6, 6)")
    page.locator("#node-out .refs-observed .ref-chip", has_text="shout.value").click()
    expect(template).to_have_value("Said: {{ shout.value }}")
    with server.app.app_context():
        assert db.session.get(Workflow, workflow_id).usage_count == 0  # a test run is not a use
    page.locator("#editor").scroll_into_view_if_needed()
    screenshot(page, "editor-test-panel.png", full_page=False)
    assert page.errors == []


def test_a_provider_then_one_of_its_models_and_a_sub_workflow_whose_inputs_are_listed_are_picked(
    browser_page, server, request
):
    page = browser_page
    user = ada(server)
    body = {
        "name": "picker-local",
        "base_url": "http://10.0.0.5/v1",
        "api_key": "sk-pick",
        "models": ["llama3.1", "tiny"],
    }
    provider_id = in_app(server.app, lambda u: create_provider(u, body).id, user_id=user.id)
    # The browser tests share one server and one ada: her provider goes when this test ends
    # (the settings test counts on ada having none of her own).
    request.addfinalizer(lambda: in_app(server.app, delete_provider, provider_id, user_id=user.id))
    takes = {"fields": [{"name": "text", "type": "string"}, {"name": "topic", "type": "string", "required": True}]}
    child = create_workflow(
        server.app,
        user,
        {
            **echo_definition(),
            "nodes": [{"id": "in", "type": "input", "config": takes}, *echo_definition()["nodes"][1:]],
        },
        name="Needs a topic",
    )
    other = create_workflow(server.app, user, echo_definition(), name="Plain echo")
    caller = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {"id": "m", "type": "ai_model", "config": {"prompt": "{{ in.text }}"}},
            {"id": "sub", "type": "workflow", "config": {"workflow_id": other, "inputs": {"text": "{{ m.text }}"}}},
            {"id": "out", "type": "output", "config": {"fields": {"r": "{{ sub.outputs }}"}}},
        ],
        "connections": [{"from": "in", "to": "m"}, {"from": "m", "to": "sub"}, {"from": "sub", "to": "out"}],
    }
    workflow_id = create_workflow(server.app, user, caller, name="Picks")
    page.goto(f"/workflows/{workflow_id}")
    open_node(page, "m")
    models = page.locator('select[name="nodes[1].config.model"] option')
    expect(models.filter(has_text="gpt-4o-mini")).to_have_count(1)  # no provider yet: the server's models
    page.locator('select[name="nodes[1].config.provider"]').select_option("picker-local")
    expect(models).to_have_text(["Default model", "llama3.1", "tiny"])  # redrawn: the provider's own list
    page.locator('select[name="nodes[1].config.model"]').select_option("tiny")
    open_node(page, "sub")
    page.locator('select[name="nodes[2].config.workflow_id"]').select_option(label="Needs a topic")
    expect(page.get_by_text("It takes: text (string), topic (string, required)")).to_be_visible()
    names = page.locator('input[name^="nodes[2].config.inputs"][name$=".name"]')
    expect(names).to_have_count(2)  # the row it had, and one for the required input it lacked
    assert names.evaluate_all("inputs => inputs.map(i => i.value)") == ["text", "topic"]
    page.locator('input[name="nodes[2].config.inputs[1].template"]').fill("{{ in.text }}")
    page.locator("#publish-button").click()  # what runs: the published version
    expect(page.locator(".editor-message")).to_contain_text("Published version")
    with server.app.app_context():
        saved = db.session.get(Workflow, workflow_id).definition["nodes"]
    assert saved[1]["config"] | {"prompt": None} == {"prompt": None, "provider": "picker-local", "model": "tiny"}
    assert saved[2]["config"] == {"workflow_id": child, "inputs": {"text": "{{ m.text }}", "topic": "{{ in.text }}"}}
    assert page.errors == []


BRANCHY = {
    "nodes": [
        {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
        {"id": "check", "type": "conditional", "config": {"condition": "in.text == 'yes'"}},
        {"id": "shout", "type": "processing", "config": {"operation": "uppercase", "input": "{{ in.text }}"}},
        {"id": "quiet", "type": "processing", "config": {"operation": "lowercase", "input": "{{ in.text }}"}},
        {"id": "out", "type": "output", "config": {"fields": {"r": "{{ shout.value }}"}}},
    ],
    "connections": [
        {"from": "in", "to": "check"},
        {"from": "check", "to": "shout", "branch": "true"},
        {"from": "shout", "to": "out"},
        {"from": "in", "to": "quiet"},
    ],
}


def port(page, node_id: str, branch: str | None = None):
    exit_ = f'[data-branch="{branch}"]' if branch else ":not([data-branch])"
    return page.locator(f'#editor-graph a.port[data-connect-from="{node_id}"]{exit_}')


def node_link(page, node_id: str):
    return page.locator(f'{LINKS}[data-node="{node_id}"]')


def test_connect_by_dragging_a_port_onto_a_node_and_undo_it(browser_page, server):
    page = browser_page
    page.goto(f"/workflows/{create_workflow(server.app, ada(server), BRANCHY, name='Drag to connect')}")
    flow(page).to_have_text("in → check, check → shout, shout → out, in → quiet")
    port(page, "quiet").drag_to(node_link(page, "out"))
    flow(page).to_have_text("in → check, check → shout, shout → out, in → quiet, quiet → out")
    # A condition's false exit dragged onto a node: that branch leads there.
    port(page, "check", "false").drag_to(node_link(page, "quiet"))
    flow(page).to_have_text("in → check, check → shout, shout → out, in → quiet, quiet → out, check → quiet")
    expect(page.locator("#editor-graph .exit-false")).not_to_have_class(re.compile("is-open"))
    page.get_by_role("button", name="↶ Undo").click()
    flow(page).to_have_text("in → check, check → shout, shout → out, in → quiet, quiet → out")
    expect(page.locator("#editor-graph .exit-false")).to_have_class(re.compile("is-open"))
    page.locator("#publish-button").click()  # what runs: the published version
    expect(page.locator(".editor-message")).to_contain_text("Published version")
    with server.app.app_context():
        saved = db.session.get(Workflow, page.url.rsplit("/", 1)[1]).definition["connections"]
    assert {"from": "quiet", "to": "out"} in saved and not any(c.get("branch") == "false" for c in saved)
    assert page.errors == []


def test_connect_with_the_keyboard_pick_an_exit_then_a_node(browser_page, server):
    page = browser_page
    page.goto(f"/workflows/{create_workflow(server.app, ada(server), BRANCHY, name='Keyboard connect')}")
    port(page, "check", "false").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#connect-status")).to_contain_text("Connecting the false exit of check")
    focused = lambda: page.evaluate("document.activeElement.getAttribute('data-node')")  # noqa: E731
    assert focused() is not None  # on to the nodes
    for _ in range(6):
        if focused() == "quiet":
            break
        page.keyboard.press("ArrowDown")
    assert focused() == "quiet"
    page.keyboard.press("Enter")
    flow(page).to_have_text("in → check, check → shout, shout → out, in → quiet, check → quiet")
    expect(page.locator("#connect-status")).to_be_hidden()
    # Escape lets a picked port go: the next node pressed opens, as ever.
    port(page, "quiet").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    expect(page.locator("#connect-status")).to_be_hidden()
    open_node(page, "out")
    expect(page.locator('.node-panel .node-card[data-node="out"]')).to_be_visible()
    flow(page).to_have_text("in → check, check → shout, shout → out, in → quiet, check → quiet")
    assert page.errors == []


def test_an_unconnected_exit_offers_to_add_a_node_there(browser_page, server):
    page = browser_page
    page.goto(f"/workflows/{create_workflow(server.app, ada(server), BRANCHY, name='Add on an exit')}")
    page.locator("#new_node_type").select_option("processing")
    port(page, "check", "false").click()
    page.locator("#connect-status").get_by_role("button", name="+ Add a node here").click()
    flow(page).to_have_text("in → check, check → shout, shout → out, in → quiet, check → step")
    expect(page.locator("#editor-graph .exit-false")).not_to_have_class(re.compile("is-open"))
    expect(page.locator('.node-panel .node-card[data-node="step"]')).to_be_visible()
    assert page.errors == []
