"""Browser fixtures: the app served on a real port (local execution, a file SQLite
database, the loopback model server) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import PASSWORD, close_app, make_app, make_user, require
from webapp.extensions import db
from webapp.models import Template

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
# The README's pictures are refreshed on request (UPDATE_SCREENSHOTS=1); other runs
# write to the ignored test-artifacts/ so a test run leaves the work tree clean.
SCREENSHOTS = ROOT / (
    "docs/screenshots" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else "test-artifacts/screenshots"
)


class Server:
    def __init__(self, app) -> None:
        self.app = app
        self.httpd = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="ui-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def start(self) -> Server:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def chromium():
    require("Chromium", os.path.exists(CHROMIUM), f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory, model_server):
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    database = tmp_path_factory.mktemp("browser") / "ui.db"
    app = make_app(f"sqlite:///{database}", model_server.base_url)
    make_user(app, "ada@example.com")
    served = Server(app).start()
    yield served
    served.stop()
    close_app(app)


@pytest.fixture
def browser_page(chromium, server, model_server):
    """A fresh browser context (no cookies), signed in as ada."""
    model_server.reset()
    context = chromium.new_context(viewport={"width": 1360, "height": 900}, base_url=server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.errors = []  # script errors, and console errors: CSP refusals, htmx swap and network errors
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: _console_error(page, message))
    page.goto("/login")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/")
    yield page
    context.close()


# htmx logs an aborted request as an error: the editor's checks abort the one still in
# flight when the person types on (hx-sync "replace"), and leaving a page aborts its polls.
ABORTED = ("htmx:afterRequest", "htmx:sendAbort")


def _console_error(page, message) -> None:
    if message.type == "error" and not message.text.startswith(ABORTED):
        page.errors.append(f"{message.text} ({page.url})")


def screenshot(page, name: str, *, full_page: bool = True) -> None:
    """Saved under SCREENSHOTS, from the top (so the sticky bar sits where it belongs)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if full_page:
        page.evaluate("window.scrollTo(0, 0)")
    # caret="initial": hiding the caret makes Playwright leave style="" on every input, which
    # htmx would then copy on the next swap (and the CSP refuse, rightly, as inline style).
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page, animations="disabled", caret="initial")


def open_node(page, node_id: str) -> None:
    """Opens a node in the editor's panel the way a person does: its box in the graph."""
    page.locator(f'#editor-graph a.node-link[data-node="{node_id}"]').click()


# A template of our own to clone: a conditional, a branch that trims, two outputs' worth of fields.
WRITER = {
    "nodes": [
        {
            "id": "in",
            "type": "input",
            "name": "Product",
            "config": {
                "fields": [
                    {
                        "name": "product",
                        "type": "string",
                        "required": True,
                        "max_length": 300,
                        "description": "What are you selling?",
                    },
                    {"name": "audience", "type": "string", "enum": ["shoppers", "engineers"], "default": "shoppers"},
                ]
            },
        },
        {
            "id": "draft",
            "type": "ai_model",
            "name": "Write the copy",
            "config": {
                "model": "gpt-4o-mini",
                "system": "You write crisp product copy.",
                "prompt": "Describe {{ in.product }} for {{ in.audience }}.",
                "temperature": 0.7,
                "max_tokens": 400,
            },
        },
        {
            "id": "words",
            "type": "processing",
            "name": "Count words",
            "config": {"operation": "word_count", "input": "{{ draft.text }}"},
        },
        {"id": "long", "type": "conditional", "name": "Too long?", "config": {"condition": "words.value > 60"}},
        {
            "id": "trim",
            "type": "processing",
            "name": "Trim",
            "config": {"operation": "truncate", "input": "{{ draft.text }}", "length": 400},
        },
        {
            "id": "out",
            "type": "output",
            "config": {"fields": {"copy": "{{ trim.value if trim else draft.text }}", "words": "{{ words.value }}"}},
        },
    ],
    "connections": [
        {"from": "in", "to": "draft"},
        {"from": "draft", "to": "words"},
        {"from": "words", "to": "long"},
        {"from": "long", "to": "trim", "branch": "true"},
        {"from": "long", "to": "out", "branch": "false"},
        {"from": "trim", "to": "out"},
    ],
}


@pytest.fixture
def gallery(server):
    """The real catalogue when it loads, plus one template of our own to clone."""
    from webapp.services import templates

    with server.app.app_context():
        try:
            templates.seed()
        except Exception as exc:  # the catalogue is someone else's work in progress: not this test's subject
            db.session.rollback()
            log.warning("catalogue not seeded: %s", exc)
        if db.session.query(Template).filter_by(slug="ui-test-writer").first() is None:
            db.session.add(
                Template(
                    slug="ui-test-writer",
                    name="Product description writer",
                    category="marketing",
                    description="Writes product copy for an audience, counts its words and trims it when it runs long.",
                    how_to_use="Name the product and pick an audience.",
                    definition=WRITER,
                )
            )
            db.session.commit()
