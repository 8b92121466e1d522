"""Every catalogue template runs as it is: its run form starts from its example inputs, and
the run completes (in Chromium, against the loopback model server; the addresses a template
calls answered by the loopback API, as tests/catalogue's scenarios do)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.test_editor import ada
from tests.catalogue.scenarios import on_loopback
from tests.ui.conftest import in_app
from webapp.extensions import db
from webapp.models import Template
from webapp.schemas.workflows import FromTemplateRequest
from webapp.services.templates import workflow_from_template

pytestmark = pytest.mark.browser


def test_every_templates_run_form_starts_filled_and_its_run_completes(browser_page, server, gallery, api_server):
    page = browser_page
    user = ada(server)
    with server.app.app_context():
        catalogue = [(t.id, t.slug, t.example_inputs) for t in db.session.query(Template).order_by(Template.slug)]
    examples = [(template_id, slug, given) for template_id, slug, given in catalogue if given]
    assert len(examples) >= 17  # the whole catalogue (our own test template has none)
    allowed = server.app.config["HTTP_ALLOWED_HOSTS"]
    server.app.config["HTTP_ALLOWED_HOSTS"] = "127.0.0.1"  # the loopback API stands for the addresses called
    server.app.extensions.pop("http_client", None)  # the client reads the setting once: a new one for this test
    try:
        for template_id, slug, given in examples:
            body = FromTemplateRequest(template_id=template_id, name=f"Runs as it is: {slug}")
            workflow_id = in_app(server.app, lambda u, b: workflow_from_template(u, b).id, body, user_id=user.id)
            page.goto(f"/workflows/{workflow_id}/run")
            for name, value in given.items():
                field = page.locator(f'#run-form [name="inputs.{name}"]')
                if isinstance(value, bool):
                    continue  # a checkbox or a choice: drawn as given, checked by the run itself
                shown = field.input_value()
                assert shown, f"{slug}: the field {name} starts empty"
                called = on_loopback(value, api_server.url(""))
                if called != value:  # an address the template calls: answered on loopback
                    field.fill(called if isinstance(called, str) else json.dumps(called))
            ran = {name: page.locator(f'#run-form [name="inputs.{name}"]').input_value() for name in given}
            page.get_by_role("button", name="▶ Run in background").click()
            expect(page.locator("#execution-status")).to_have_text("Completed", timeout=30_000)
        # Run again: the run form starts from that run's inputs, as it ran.
        page.get_by_role("link", name="Run again").click()
        for name, value in ran.items():
            expect(page.locator(f'#run-form [name="inputs.{name}"]')).to_have_value(value)
    finally:
        server.app.config["HTTP_ALLOWED_HOSTS"] = allowed
        server.app.extensions.pop("http_client", None)  # and the next tests get one that refuses loopback
    assert page.errors == []
