"""The editor's Test panel in Chromium: a node's last output pinned (keyboard only) is what
the next test run takes, with no model call; and a test run still going is followed live
over its events (static/live.js, as the execution page is): the panel's graph recolours its
nodes and a model's text shows as it arrives, then the results come when it ends (or at
once when it is cancelled there)."""

from __future__ import annotations

import re
from itertools import pairwise
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_node
from tests.ui.conftest import create_workflow
from webapp.extensions import db
from webapp.models import Execution, User

pytestmark = pytest.mark.browser
RESULT = "#test-result"
ANSWER = "Each word of this answer reaches the panel while the run is still going on."


def ada(server) -> SimpleNamespace:
    with server.app.app_context():
        return SimpleNamespace(id=db.session.query(User).filter_by(email="ada@example.com").one().id)


def newest_run(server, workflow_id: str) -> SimpleNamespace:
    with server.app.app_context():
        runs = db.session.query(Execution).filter_by(workflow_id=workflow_id)
        run = runs.order_by(Execution.created_at.desc()).first()
        nodes = {row.node_id: SimpleNamespace(status=row.status, pinned=row.pinned) for row in run.nodes}
        return SimpleNamespace(status=run.status, outputs=run.outputs, nodes=nodes)


def model_chain(*prompts: str) -> dict:
    """input → one model call per prompt, one after the other → the last one's text."""
    nodes = [{"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}}]
    ids = [f"gen{i + 1}" for i in range(len(prompts))]
    nodes += [
        {"id": node_id, "type": "ai_model", "config": {"model": "gpt-4o-mini", "prompt": prompt}}
        for node_id, prompt in zip(ids, prompts, strict=True)
    ]
    nodes.append({"id": "out", "type": "output", "config": {"fields": {"answer": f"{{{{ {ids[-1]}.text }}}}"}}})
    order = ["in", *ids, "out"]
    return {"nodes": nodes, "connections": [{"from": a, "to": b} for a, b in pairwise(order)]}


def run_draft(page, text: str) -> None:
    page.locator("#test-panel").get_by_label("Text").fill(text)
    page.get_by_role("button", name="▶ Run the draft").click()


def test_a_pinned_output_is_what_the_next_test_run_takes_without_calling_the_model(browser_page, server, model_server):
    page = browser_page
    workflow_id = create_workflow(server.app, ada(server), model_chain("[[reply=Pinned words]] {{ in.text }}"))
    page.goto(f"/workflows/{workflow_id}")
    page.locator("#test-panel summary").click()
    run_draft(page, "the first time")
    expect(page.locator(".editor-message")).to_have_text("Test run: completed.")
    assert model_server.call_count == 1

    open_node(page, "gen1")
    page.locator("#node-gen1").get_by_role("button", name="Pin this output").focus()
    page.keyboard.press("Enter")  # keyboard only
    expect(page.locator(".editor-message")).to_contain_text("Pinned the output of gen1")
    unpin = page.locator("#node-gen1").get_by_role("button", name="Unpin")
    expect(unpin).to_be_focused()  # the button changed in its place; the keyboard stays on it
    expect(page.locator("#test-pins")).to_contain_text("gen1")
    expect(page.locator('#editor-graph a[data-node="gen1"] g.node')).to_have_attribute("class", re.compile("is-pinned"))

    run_draft(page, "the second time")
    expect(page.locator(".editor-message")).to_have_text("Test run: completed.")
    assert model_server.call_count == 1  # no model call: the pin was the output
    expect(page.locator("#node-gen1 .node-test summary")).to_contain_text("given its pinned output")
    pinned = page.locator(f'{RESULT} g.node[data-node="gen1"]')
    expect(pinned).to_have_attribute("class", re.compile(r"s-completed is-pinned"))
    run = newest_run(server, workflow_id)
    assert run.nodes["gen1"].pinned and run.outputs == {"answer": "Pinned words"}

    unpin.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".editor-message")).to_contain_text("Unpinned gen1")
    expect(page.locator("#test-pins")).to_have_count(0)
    assert page.errors == []


def test_the_panels_graph_follows_a_test_run_as_it_goes(browser_page, server):
    page = browser_page
    definition = model_chain("[[latency=3]] {{ in.text }}", f"[[reply={ANSWER}]] [[every=0.3]] next")
    workflow_id = create_workflow(server.app, ada(server), definition, name="Followed")
    page.goto(f"/workflows/{workflow_id}")
    page.locator("#test-panel summary").click()
    asked = []
    page.on("request", lambda request: asked.append(request.url) if "/editor/test" in request.url else None)
    with page.expect_response(lambda response: response.url.endswith("/editor/test")) as answered:
        run_draft(page, "go")
    first = answered.value.text()
    # The Run's answer: the run as it stood a moment in, gen2 not started yet.
    assert "Test run: still running." in first
    assert '<g class="node t-ai_model s-pending" data-node="gen2">' in first

    gen2 = page.locator(f'{RESULT} g.node[data-node="gen2"]')
    expect(gen2).to_have_attribute("class", re.compile(r"\bs-running\b"), timeout=20_000)
    gen1 = page.locator(f'{RESULT} g.node[data-node="gen1"]')
    expect(gen1).to_have_attribute("class", re.compile(r"\bs-completed\b"))
    expect(page.locator(f'{RESULT} [data-node-status="gen2"]')).to_have_text("running")
    text = page.locator(f'{RESULT} [data-streamed-text="gen2"] .streamed-text')
    expect(text).to_contain_text("Each word")
    partial = text.inner_text()
    # Seen mid-run, from the events alone: the run was still going, nothing was asked again.
    assert newest_run(server, workflow_id).status == "running"
    assert ANSWER.startswith(partial) and len(partial) < len(ANSWER)
    assert len(asked) == 1

    expect(page.locator(".editor-message")).to_have_text("Test run: completed.", timeout=30_000)
    expect(page.locator(f"{RESULT}[data-events]")).to_have_count(0)
    expect(gen2).to_have_attribute("class", re.compile(r"\bs-completed\b"))
    open_node(page, "gen2")
    expect(page.locator("#node-gen2 .node-test")).to_contain_text(ANSWER)
    assert page.errors == []


def test_a_test_run_cancelled_from_the_panel_ends_there(browser_page, server):
    page = browser_page
    workflow_id = create_workflow(server.app, ada(server), model_chain("[[latency=8]] {{ in.text }}"), name="Stopped")
    page.goto(f"/workflows/{workflow_id}")
    page.locator("#test-panel summary").click()
    run_draft(page, "go")
    expect(page.locator(".editor-message")).to_have_text("Test run: still running.")
    page.locator("#test-cancel").click()
    expect(page.locator(".editor-message")).to_have_text("Test run: cancelled.")  # at once, not when the call gives up
    gen1 = page.locator(f'{RESULT} g.node[data-node="gen1"]')
    expect(gen1).to_have_attribute("class", re.compile(r"\bs-cancelled\b"))
    assert newest_run(server, workflow_id).status == "cancelled"
    assert page.errors == []
