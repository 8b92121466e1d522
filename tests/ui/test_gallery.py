"""The template gallery: cards by category, search and filter as fragments,
the preview, and cloning into the editor."""

from __future__ import annotations

from tests.definitions import echo_definition, spec_example
from tests.ui.conftest import add_template


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
    template_id = add_template(app, spec_example(), name="Product copy")
    response = page.get(f"/templates/{template_id}")
    assert response.status_code == 200
    html = response.text
    assert "Product copy: writes something useful." in html and "Give it a product name." in html
    assert "<svg" in html and 'class="node t-ai_model"' in html and ">true</text>" in html
    assert "<code>product</code>" in html and "required" in html
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
