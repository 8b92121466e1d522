"""The editor draws no draft past MAX_NODES, MAX_CONNECTIONS or MAX_DEFINITION_BYTES,
whatever field it came in (the JSON tab, the undo history, the form's own fields): it
says which bound, beside the field, before anything of the draft is drawn; and what it
does draw grows with the draft, not with nodes × connections (issue 31, finding 2)."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from tests.ui.conftest import create_workflow
from tests.ui.forms import form_fields
from tests.ui.test_editor import editor_form, replace, slot
from webapp.ui import undo

NODE_CARD = re.compile(r'<fieldset class="node-card')


def chain(count: int) -> dict:
    """An input, ``count - 2`` processing steps one after the other, an output."""
    nodes = [{"id": "in", "type": "input", "config": {"fields": [{"name": "t", "type": "string"}]}}]
    nodes += [
        {"id": f"n{i}", "type": "processing", "config": {"operation": "strip", "input": "{{ in.t }}"}}
        for i in range(1, count - 1)
    ]
    nodes.append({"id": "out", "type": "output", "config": {"fields": {"r": "{{ in.t }}"}}})
    connections = [{"from": a["id"], "to": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"nodes": nodes, "connections": connections}


@pytest.fixture
def small_bounds(app):
    """Bounds a test can pass with a few nodes: 6 nodes, 8 connections, 4 KB."""
    app.config.update(MAX_NODES=6, MAX_CONNECTIONS=8, MAX_DEFINITION_BYTES=4096)
    return app


def past(bound: str) -> dict:
    """A draft past one bound of ``small_bounds`` and within the others."""
    if bound == "MAX_NODES":
        return chain(7)
    definition = chain(4)
    if bound == "MAX_CONNECTIONS":
        definition["connections"] *= 3  # 9, duplicates: the count is what is past
    else:
        definition["nodes"][1]["config"]["input"] = "{{ in.t }}" + " " * 5000
    return definition


def assert_not_drawn(html: str, why: str) -> None:
    """The answer holds no node form, graph or connection row, and says why next to the JSON."""
    assert not NODE_CARD.search(html) and "<svg" not in html and "conn-table" not in html
    assert why in slot(html, "pb-definition_json")


WHY = {"MAX_NODES": "at most 6 nodes", "MAX_CONNECTIONS": "at most 8 connections", "MAX_DEFINITION_BYTES": "4096"}


@pytest.mark.parametrize("bound", WHY)
def test_a_json_tab_past_a_bound_stays_text_with_the_bound_beside_it(page, small_bounds, bound):
    workflow_id = create_workflow(small_bounds, page.user, chain(3))
    typed = json.dumps(past(bound))
    pairs = [("_view", "json"), ("definition_json", typed)]
    to_form = page.post(f"/workflows/{workflow_id}/editor", [*pairs, ("action", "view:form")], htmx=True)
    assert to_form.status_code == 422
    assert_not_drawn(to_form.text, WHY[bound])
    assert form_fields(to_form.text, "editor-form").count(("definition_json", typed)) == 1  # kept as typed
    checked = page.post(f"/workflows/{workflow_id}/editor/check", pairs, htmx=True)
    assert_not_drawn(checked.text, WHY[bound])
    saved = page.post(f"/workflows/{workflow_id}/definition", pairs, htmx=True)
    assert saved.status_code == 422
    assert_not_drawn(saved.text, WHY[bound])
    whole_page = page.post(f"/workflows/{workflow_id}/editor", [*pairs, ("action", "view:form")])
    assert whole_page.status_code == 422
    assert_not_drawn(whole_page.text, WHY[bound])


@pytest.mark.parametrize("bound", WHY)
def test_an_undo_history_holding_a_draft_past_a_bound_is_dropped_not_drawn(page, small_bounds, bound):
    workflow_id = create_workflow(small_bounds, page.user, chain(3))
    pairs = editor_form(page, workflow_id)
    history = undo.write([{"before": past(bound), "after": chain(3)}])
    answer = page.post(f"/workflows/{workflow_id}/editor", [*replace(pairs, "_undo", history), ("action", "undo")])
    assert answer.status_code == 422
    assert "Undo history dropped" in answer.text and WHY[bound] in answer.text
    assert len(NODE_CARD.findall(answer.text)) == 3  # the draft as it was, not the one in the history
    assert 'name="_undo" value=""' in answer.text


def test_form_fields_past_max_nodes_are_shown_as_text_only(page, small_bounds):
    workflow_id = create_workflow(small_bounds, page.user, chain(3))
    pairs = editor_form(page, workflow_id)
    extra = [(f"nodes[{i}].{key}", value) for i in range(3, 9) for key, value in (("id", f"x{i}"), ("type", "input"))]
    answer = page.post(f"/workflows/{workflow_id}/editor", [*pairs, *extra, ("action", "view:form")], htmx=True)
    assert answer.status_code == 422
    assert_not_drawn(answer.text, "at most 6 nodes")
    text = dict(form_fields(answer.text, "editor-form"))["definition_json"]
    assert [node["id"] for node in json.loads(text)["nodes"]][-1] == "x8"  # nothing typed is lost


def test_an_edit_that_would_pass_a_bound_is_refused_and_the_draft_stays(page, small_bounds):
    workflow_id = create_workflow(small_bounds, page.user, chain(6))
    pairs = editor_form(page, workflow_id)
    answer = page.post(f"/workflows/{workflow_id}/editor", [*pairs, ("action", "add_node")], htmx=True)
    assert answer.status_code == 422 and "Not done: a workflow may have at most 6 nodes" in answer.text
    assert len(NODE_CARD.findall(answer.text)) == 6


def test_the_connection_table_offers_node_ids_from_one_shared_list(page, app):
    """Each row's ends are text fields on one datalist: the page grows with nodes plus
    connections (it carried every node id in two dropdowns on every row)."""
    definition = chain(20)
    definition["connections"] += [{"from": "in", "to": f"n{i}"} for i in range(2, 19)]
    workflow_id = create_workflow(app, page.user, definition)
    html = page.get(f"/workflows/{workflow_id}").text
    assert len(re.findall(r'<option value="n5"', html)) == 2  # the shared list, and "Connect it from"
    row = re.search(r'<input[^>]*name="connections\[3\]\.from"[^>]*>', html).group(0)
    assert 'list="node-ids-list"' in row and 'value="n3"' in row
    assert re.search(r'<datalist id="node-ids-list">(.*?)</datalist>', html).group(1).count("<option") == 20
    assert len(NODE_CARD.findall(html)) == 20  # each node's form once
    assert all(html.count(f'id="node-{node["id"]}"') == 1 for node in definition["nodes"])


def test_a_connection_table_round_trips_through_its_text_fields(page, app):
    definition = chain(4)
    workflow_id = create_workflow(app, page.user, definition)
    pairs = replace(editor_form(page, workflow_id), "connections[2].from", "in")
    answer = page.post(f"/workflows/{workflow_id}/definition", pairs, htmx=True)
    assert answer.status_code == 200, answer.text
    saved = page.get(f"/workflows/{workflow_id}").text
    assert re.search(r'name="connections\[2\]\.from" value="in"', saved)


def test_the_json_tab_keeps_quotes_as_they_are(page, app):
    workflow_id = create_workflow(app, page.user, chain(3))
    html = page.post(f"/workflows/{workflow_id}/editor", [("_view", "form"), ("action", "view:json")], htmx=True).text
    text = re.search(r'<textarea id="definition_json"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert '"nodes": [' in text and "&#34;" not in text
