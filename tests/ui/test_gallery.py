"""The template gallery: cards by category, search and filter as fragments,
the preview, cloning into the editor, and every template running as it is from its
run form."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from sqlalchemy import select

from tests.catalogue.scenarios import SCENARIOS, on_loopback
from tests.definitions import echo_definition, spec_example
from tests.ui.conftest import add_template
from webapp.extensions import db
from webapp.models import Execution, Template
from webapp.services import templates
from webapp.services.templates import CATALOGUE_DIR

SLUGS = sorted(path.stem for path in CATALOGUE_DIR.glob("*.json"))


def test_gallery_shows_cards_ordered_by_category(page, app):
    add_template(app, spec_example(), name="Product copy", category="marketing")
    add_template(app, echo_definition(), name="Shout it", category="writing")
    response = page.get("/templates")
    assert response.status_code == 200
    html = response.text
    assert 'name="category" value="marketing"' in html  # the category filter
    cards = html[html.index('id="template-cards"') :]
    assert cards.index(">marketing<") < cards.index("Product copy") < cards.index(">writing<") < cards.index("Shout it")


def test_search_and_category_answer_with_the_cards_only(page, app):
    add_template(app, spec_example(), name="Product copy", category="marketing")
    add_template(app, echo_definition(), name="Shout it", category="writing")
    found = page.get("/templates?q=shout", htmx=True)
    assert found.status_code == 200 and found.text.lstrip().startswith('<div id="template-cards">')
    assert "Shout it" in found.text and "Product copy" not in found.text
    by_category = page.get("/templates?category=marketing", htmx=True)
    assert "Product copy" in by_category.text and "Shout it" not in by_category.text
    nothing = page.get("/templates?q=zebra", htmx=True)
    assert "No template matches" in nothing.text


def test_the_gallery_paginates(page, app):
    for number in range(26):
        add_template(app, echo_definition(), name=f"Template {number:02d}", category="misc")
    first = page.get("/templates").text
    assert "1–24 of 26" in first and 'rel="next"' in first
    second = page.get("/templates?page=2", htmx=True).text
    assert "Template 25" in second and "Template 00" not in second
    assert page.get("/templates?page=banana").status_code == 200


def test_preview_shows_description_inputs_and_graph(page, app):
    template_id = add_template(app, spec_example(), name="Product copy", example_inputs={"product": "A smart kettle"})
    response = page.get(f"/templates/{template_id}")
    assert response.status_code == 200
    html = response.text
    assert "Product copy: writes something useful." in html and "Give it a product name." in html
    assert "<svg" in html and 'class="node t-ai_model"' in html and ">true</text>" in html
    assert "<code>product</code>" in html and "required" in html
    assert "For example: <code" in html and "A smart kettle" in html
    assert page.get("/templates/tpl_nope").status_code == 404


def test_clone_opens_the_new_workflow_in_the_editor(page, app):
    template_id = add_template(app, spec_example(), name="Product copy")
    response = page.post(f"/templates/{template_id}/clone", htmx=True)
    assert response.status_code == 204
    location = response.headers["HX-Redirect"]
    assert location.startswith("/workflows/wf_")
    editor = page.get(location)
    assert editor.status_code == 200
    assert "Product copy" in editor.text and 'id="editor-form"' in editor.text
    assert "is yours now" in editor.text  # the flash message
    assert "used 1 time" in page.get("/templates").text


def test_clone_with_a_name_and_without_htmx(page, app):
    template_id = add_template(app, spec_example(), name="Product copy")
    response = page.post(f"/templates/{template_id}/clone", {"name": "My copywriter"})
    assert response.status_code == 303
    assert "My copywriter" in page.get(response.headers["Location"]).text
    assert page.post("/templates/tpl_nope/clone").status_code == 404


@pytest.mark.parametrize("slug", SLUGS)
def test_every_templates_run_form_starts_from_its_examples_and_the_run_completes(
    page, app, model, api_server, tmp_path, slug
):
    """A template runs as it is: the run form of a workflow cloned from it starts filled
    with its ``example_inputs`` and, posted as the browser would (every address it calls
    answered on loopback, the model's replies scripted), the run completes."""
    app.config["CACHE_ENABLED"] = False
    app.config["HTTP_ALLOWED_HOSTS"] = "127.0.0.1"
    shutil.copy(CATALOGUE_DIR / f"{slug}.json", tmp_path / f"{slug}.json")
    with app.app_context():
        templates.seed(tmp_path)
        template_id = db.session.scalar(select(Template.id).where(Template.slug == slug))
    workflow_path = page.post(f"/templates/{template_id}/clone", htmx=True).headers["HX-Redirect"]
    form = page.form(f"{workflow_path}/run", "run-form")
    examples = json.loads((CATALOGUE_DIR / f"{slug}.json").read_text(encoding="utf-8"))["example_inputs"]
    filled = {name.removeprefix("inputs."): value for name, value in form if name.startswith("inputs.") and value}
    assert set(examples) <= set(filled), "every example starts the form filled"
    model.replies.clear()
    for substring, reply in next(iter(SCENARIOS[slug].runs.values())):
        model.reply_when(substring, reply)
    posted = [(name, on_loopback(value, api_server.url(""))) for name, value in form] + [("mode", "wait")]
    response = page.post(f"{workflow_path}/run", posted, htmx=True)
    assert response.status_code == 200, response.text
    execution_id = re.search(r'href="/executions/(exec_\w+)"', response.text).group(1)
    with app.app_context():
        execution = db.session.get(Execution, execution_id)
        assert execution.status == "completed", (execution.error, [(n.node_id, n.error) for n in execution.nodes])
