"""The live execution page shows a model node's text as it arrives (static/live.js over
the execution's events), before the node ends; the polling then brings the finished
page as before. Its screenshot is the README's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.definitions import model_definition
from tests.ui.conftest import create_workflow, in_app
from webapp.extensions import db
from webapp.models import User

pytestmark = pytest.mark.browser
ANSWER = "Streaming shows each word of the answer as the model writes it, long before the node is done."


def ada(server) -> SimpleNamespace:
    with server.app.app_context():
        return SimpleNamespace(id=db.session.query(User).filter_by(email="ada@example.com").one().id)


def start(server, user, every: float) -> str:
    from webapp.runs import start as runs

    definition = model_definition(f"[[reply={ANSWER}]] [[every={every}]] {{{{ in.text }}}}")
    workflow_id = create_workflow(server.app, user, definition, name="Streamed answer")
    return in_app(server.app, lambda u: runs.start_execution(u, workflow_id, {"text": "go"}).id, user_id=user.id)


def test_a_model_nodes_text_shows_as_it_arrives(browser_page, server):
    page = browser_page
    execution_id = start(server, ada(server), every=0.25)
    page.goto(f"/executions/{execution_id}")
    box = page.locator('[data-streamed-text="gen"] .streamed-text')
    expect(box).to_contain_text("Streaming shows each")
    expect(box).to_be_visible()
    node = page.locator("#run-gen")
    expect(node.locator(".badge.status")).to_have_text("running")  # the text came before the node ended
    partial = box.inner_text()
    assert ANSWER.startswith(partial) and len(partial) < len(ANSWER)
    screenshot(page, "execution-streaming.png")
    expect(page.locator("#execution-status")).to_have_text("Completed", timeout=20_000)
    expect(node).to_contain_text(ANSWER)
    assert page.errors == []
