"""My workflows: the list and its filters, creating, importing, duplicating,
publishing, deleting, exporting, rating, and who may see or change what."""

from __future__ import annotations

import json

from tests.definitions import echo_definition, spec_example
from tests.ui.conftest import create_workflow, run_and_wait
from tests.ui.test_editor import editor_form, replace


def test_list_shows_mine_with_badges_and_last_run(page, app):
    shown = create_workflow(app, page.user, echo_definition(), name="Shouter", public=True, category="fun")
    create_workflow(app, page.user, spec_example(), name="Copywriter", category="marketing")
    run_and_wait(app, page.user, shown, {"text": "hello"})
    html = page.get("/workflows").text
    assert "Shouter" in html and "Copywriter" in html
    assert 'class="badge badge-public">public</span>' in html
    assert "status-completed" in html  # the last run of Shouter
    assert '<option value="fun"' in html and '<option value="marketing"' in html


def test_search_category_and_scope_answer_with_the_list(page, other_page, app):
    create_workflow(app, page.user, echo_definition(), name="Shouter", category="fun")
    create_workflow(
        app, page.user, spec_example(), name="Copywriter", category="marketing", description="writes product copy"
    )
    create_workflow(app, other_page.user, echo_definition(), name="Bob's public one", public=True)
    create_workflow(app, other_page.user, echo_definition(), name="Bob's secret")
    found = page.get("/workflows?q=product", htmx=True)
    assert found.text.lstrip().startswith('<div id="workflow-list"')
    assert "Copywriter" in found.text and "Shouter" not in found.text
    assert "Shouter" in page.get("/workflows?category=fun", htmx=True).text
    assert "Copywriter" not in page.get("/workflows?category=fun", htmx=True).text
    assert "Bob&#39;s public one" not in page.get("/workflows").text
    everything = page.get("/workflows?scope=all", htmx=True).text
    assert "Bob&#39;s public one" in everything and "Bob&#39;s secret" not in everything
    assert "Nothing matches" in page.get("/workflows?q=zebra", htmx=True).text


def test_the_list_paginates(page, app):
    for number in range(17):
        create_workflow(app, page.user, echo_definition(), name=f"Flow {number:02d}")
    html = page.get("/workflows").text
    assert "1–15 of 17" in html and "Flow 16" in html and "Flow 01" not in html
    second = page.get("/workflows?page=2", htmx=True).text
    assert "Flow 01" in second and "Flow 00" in second and "16–17 of 17" in second
    assert "Nothing on this page" in page.get("/workflows?page=9").text


def test_the_list_refreshes_itself_on_changes(page, app):
    html = page.get("/workflows").text
    assert 'hx-trigger="workflows-changed from:body"' in html


def test_new_workflow_starts_as_input_model_output(page):
    assert page.get("/workflows/new").status_code == 200
    response = page.post("/workflows/new", {"new-name": "Fresh", "new-description": "d", "new-category": "lab"})
    assert response.status_code == 303
    html = page.get(response.headers["Location"]).text
    assert "Fresh" in html and "version 1" in html and 'value="answer"' in html
    assert "ready" in html  # the flash message
    assert page.post("/workflows/new", {"new-name": ""}).status_code == 422


def test_import_creates_a_workflow_from_an_export(page, app):
    workflow_id = create_workflow(app, page.user, spec_example(), name="Original")
    exported = page.get(f"/workflows/{workflow_id}/export")
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    assert 'filename="original.json"' in exported.headers["Content-Disposition"]
    response = page.post("/workflows/import", {"import-document": exported.text})
    assert response.status_code == 303
    assert "Original" in page.get(response.headers["Location"]).text


def test_import_explains_what_is_wrong(page):
    bad_json = page.post("/workflows/import", {"import-document": "{not json"})
    assert bad_json.status_code == 422 and "not valid JSON" in bad_json.text
    document = {"name": "Broken", "nodes": [{"id": "x", "type": "teleport"}], "connections": []}
    invalid = page.post("/workflows/import", {"import-document": json.dumps(document)})
    assert invalid.status_code == 422 and "unknown node type" in invalid.text


def test_duplicate_makes_a_copy_and_opens_it(page, app):
    workflow_id = create_workflow(app, page.user, echo_definition(), name="Shouter")
    response = page.post(f"/workflows/{workflow_id}/clone", htmx=True)
    assert response.status_code == 204
    copy = page.get(response.headers["HX-Redirect"]).text
    assert "Shouter (copy)" in copy


def test_publish_and_unpublish_from_the_list(page, app):
    workflow_id = create_workflow(app, page.user, echo_definition(), name="Shouter")
    response = page.post(f"/workflows/{workflow_id}/publish", {"public": "true", "from": "list"}, htmx=True)
    assert response.status_code == 204 and response.headers["HX-Trigger"] == "workflows-changed"
    refreshed = page.get("/workflows", htmx=True).text
    assert "badge-public" in refreshed and "is public now" in refreshed  # the message comes along
    response = page.post(f"/workflows/{workflow_id}/publish", {"public": "false"})
    assert response.status_code == 303
    assert "badge-public" not in page.get("/workflows").text


def test_delete_from_the_list_and_from_the_page(page, app):
    first = create_workflow(app, page.user, echo_definition(), name="First")
    second = create_workflow(app, page.user, echo_definition(), name="Second")
    response = page.post(f"/workflows/{first}/delete", {"from": "list"}, htmx=True)
    assert response.status_code == 204 and response.headers["HX-Trigger"] == "workflows-changed"
    refreshed = page.get("/workflows", htmx=True).text
    assert "Deleted “First”" in refreshed and 'href="/workflows/' + first not in refreshed
    response = page.post(f"/workflows/{second}/delete", htmx=True)
    assert response.headers["HX-Redirect"] == "/workflows"
    assert page.get(f"/workflows/{second}").status_code == 404


def test_delete_asks_for_confirmation(page, app):
    create_workflow(app, page.user, echo_definition(), name="Keep me")
    assert 'hx-confirm="Delete “Keep me”?' in page.get("/workflows").text


def test_one_save_keeps_a_rename_and_a_prompt_change_together(page, app):
    workflow_id = create_workflow(app, page.user, spec_example(), name="Shouter")
    pairs = editor_form(page, workflow_id)
    pairs = replace(replace(pairs, "name", "Loud"), "nodes[1].config.prompt", "Describe {{ in.product }} loudly")
    pairs += [("description", "very"), ("category", "noise"), ("public", "y")]
    response = page.post(f"/workflows/{workflow_id}/definition", pairs, htmx=True)
    assert response.status_code == 200 and "Draft saved." in response.text
    assert 'id="wf-head" class="page-head" hx-swap-oob="true"' in response.text and "Loud" in response.text
    assert 'id="workflow-meta" class="meta-form" hx-swap-oob="true"' in response.text
    reloaded = page.get(f"/workflows/{workflow_id}").text
    assert "<h1>Loud</h1>" in reloaded and "Describe {{ in.product }} loudly" in reloaded and "badge-public" in reloaded
    renamed_only = page.post(
        f"/workflows/{workflow_id}/definition", replace(editor_form(page, workflow_id), "name", "Quiet"), htmx=True
    )
    assert (
        "Draft saved." in renamed_only.text and "version 1" in page.get(f"/workflows/{workflow_id}").text
    )  # no new version
    empty = page.post(
        f"/workflows/{workflow_id}/definition", replace(editor_form(page, workflow_id), "name", ""), htmx=True
    )
    assert empty.status_code == 422 and "This field is required" in empty.text
    assert "<h1>Quiet</h1>" in page.get(f"/workflows/{workflow_id}").text  # nothing of the refused save was kept


def test_rating(page, other_page, app):
    workflow_id = create_workflow(app, page.user, echo_definition(), name="Shouter", public=True)
    response = other_page.post(f"/workflows/{workflow_id}/rating", {"rating": "4"}, htmx=True)
    assert response.status_code == 200 and "4.0 / 5 from 1 rating" in response.text
    response = page.post(f"/workflows/{workflow_id}/rating", {"rating": "2"}, htmx=True)
    assert "3.0 / 5 from 2 ratings" in response.text
    assert page.post(f"/workflows/{workflow_id}/rating", {"rating": "9"}, htmx=True).status_code == 422


# -- access -------------------------------------------------------------------------------------


def test_another_users_private_workflow_is_not_found_everywhere(page, other_page, app):
    secret = create_workflow(app, other_page.user, echo_definition(), name="Bob's secret")
    for path in (f"/workflows/{secret}", f"/workflows/{secret}/run", f"/workflows/{secret}/export"):
        response = page.get(path)
        assert response.status_code == 404, path
        assert "Bob" not in response.text, path
    for path in (
        f"/workflows/{secret}/editor",
        f"/workflows/{secret}/editor/check",
        f"/workflows/{secret}/definition",
        f"/workflows/{secret}/clone",
        f"/workflows/{secret}/publish",
        f"/workflows/{secret}/delete",
        f"/workflows/{secret}/rating",
        f"/workflows/{secret}/run",
    ):
        response = page.post(path, {"name": "mine now", "rating": "5", "inputs.text": "x"}, htmx=True)
        assert response.status_code == 404, path
    assert other_page.get(f"/workflows/{secret}").status_code == 200  # still there, unchanged
    assert "Bob&#39;s secret" in other_page.get(f"/workflows/{secret}").text


def test_another_users_public_workflow_is_viewable_but_not_editable(page, other_page, app):
    shared = create_workflow(app, other_page.user, echo_definition(), name="Bob's shared", public=True)
    view = page.get(f"/workflows/{shared}")
    assert view.status_code == 200
    assert "read only" in view.text and 'id="editor-form"' not in view.text and "<fieldset disabled" in view.text
    assert "Clone to my workflows" in view.text and 'id="workflow-meta"' not in view.text
    assert page.get(f"/workflows/{shared}/run").status_code == 200
    for path in (
        f"/workflows/{shared}/editor",
        f"/workflows/{shared}/editor/check",
        f"/workflows/{shared}/definition",
        f"/workflows/{shared}/publish",
        f"/workflows/{shared}/delete",
    ):
        response = page.post(path, {"name": "mine now", "public": "false"}, htmx=True)
        assert response.status_code == 403, path
        assert response.headers["HX-Retarget"] == "#flash"
    assert page.post(f"/workflows/{shared}/delete").status_code == 403
    clone = page.post(f"/workflows/{shared}/clone", htmx=True)
    assert clone.status_code == 204 and "Bob&#39;s shared (copy)" in page.get(clone.headers["HX-Redirect"]).text
