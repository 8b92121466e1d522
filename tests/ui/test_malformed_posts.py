"""Requests no page sends but anyone can: each gets a 4xx or a page saying what is
wrong, never a 500 (issue 31, finding 8)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ui.conftest import create_workflow
from tests.ui.test_editor import editor_form, slot
from tests.ui.test_editor_bounds import chain
from webapp.engine.node_types import all_types


@pytest.mark.parametrize("target", ["/\r\nX:y", "/a\x00b", "/\x7f", "/\tx"])
def test_a_next_address_with_control_characters_is_not_followed(page, target):
    """Signed in, /login redirects to ``next``: a header cannot carry a line break, so
    such a ``next`` is no address to go to (the dashboard is)."""
    answer = page.client.get("/login", query_string={"next": target})
    if answer.status_code != 400:  # a NUL is refused before the page is asked
        assert answer.status_code == 302 and answer.headers["Location"] == "/"
    assert page.get("/login?next=/%0d%0aX:y").headers["Location"] == "/"  # as the issue sent it


@pytest.mark.parametrize(
    "action, nodes",
    [
        ("insert_on:0:" + "9" * 5000, 4),  # inserted on connection 0; the rest is no index
        ("insert_on:" + "9" * 5000, 3),
        ("remove_node:²", 3),  # a digit to str.isdigit, not to int()
        ("move_node:٣:1", 3),
    ],
)
def test_an_action_with_an_unreadable_index_is_no_500(page, app, action, nodes):
    workflow_id = create_workflow(app, page.user, chain(3))
    answer = page.post(f"/workflows/{workflow_id}/editor", [*editor_form(page, workflow_id), ("action", action)])
    assert answer.status_code == 200 and answer.text.count('<fieldset class="node-card') == nodes


@pytest.mark.parametrize(
    "document",
    [
        '{"workflow": {"nodes": 5}}',
        '{"nodes": "x"}',
        '{"nodes": [], "connections": {}}',
        '{"workflow": {"connections": 1}}',
    ],
)
def test_a_json_tab_of_the_wrong_shape_is_a_problem_beside_it(page, app, document):
    workflow_id = create_workflow(app, page.user, chain(3))
    pairs = [("_view", "json"), ("definition_json", document)]
    for path, extra in (("editor", [("action", "view:form")]), ("editor/check", []), ("definition", [])):
        answer = page.post(f"/workflows/{workflow_id}/{path}", [*pairs, *extra], htmx=True)
        assert answer.status_code in (200, 422), (path, answer.status_code)
        assert "each a list" in slot(answer.text, "pb-definition_json")


@pytest.mark.parametrize("hidden", ['{"node": 5, "config": 7}', '{"node": [], "config": "x"}', "[1]", "{"])
def test_a_nodes_hidden_options_of_the_wrong_shape_do_not_break_the_form(page, app, hidden):
    workflow_id = create_workflow(app, page.user, chain(3))
    fields = [("nodes[9999].id", "x"), ("nodes[9999].type", "input"), ("nodes[9999]._extra", hidden)]
    for path in ("editor", "editor/check", "definition"):
        data = [*editor_form(page, workflow_id), *fields, *([("action", "view:form")] if path == "editor" else [])]
        answer = page.post(f"/workflows/{workflow_id}/{path}", data, htmx=True)
        assert answer.status_code in (200, 422), (path, answer.status_code)


@pytest.mark.parametrize(
    "fields",
    [
        [("nodes[3].id", "n1"), ("nodes[3].type", "input")],  # an id given twice, as while typing
        [("nodes[1]._keys", '{"node": 1, "config": "x"}')],  # hidden option names of the wrong shape
        [("nodes[9999].config.fields[0]._keys", "7"), ("nodes[9999].type", "input")],
    ],
    ids=["duplicate-id", "keys-shape", "row-keys-shape"],
)
def test_form_fields_found_by_fuzzing_are_no_500(page, app, fields):
    workflow_id = create_workflow(app, page.user, chain(3))
    for path, extra in (("editor", [("action", "insert_on:0")]), ("editor/check", []), ("definition", [])):
        answer = page.post(f"/workflows/{workflow_id}/{path}", [*editor_form(page, workflow_id), *fields, *extra])
        assert answer.status_code in (200, 303, 422), (path, answer.status_code)


def test_a_json_tab_whose_node_id_is_a_list_is_a_problem_not_a_500(page, app):
    workflow_id = create_workflow(app, page.user, chain(3))
    document = '{"nodes": [{"id": ["x"], "type": "processing", "config": 1}, "text"], "connections": [true]}'
    answer = page.post(
        f"/workflows/{workflow_id}/editor", [("_view", "json"), ("definition_json", document), ("action", "view:form")]
    )
    assert answer.status_code == 200 and "must start with a letter" in slot(answer.text, "pb-nodes-0-id")


# -- fuzzing: any form the editor's three requests can be sent --------------------------------------

OPTION_KEYS = (
    "id", "type", "name", "on_error", "_was", "_keys", "_extra", "config", "config.operation", "config.input",
    "config.template", "config.items", "config.fields[0].name", "config.fields[0].type", "config.fields[0].enum",
    "config.fields[0].default", "config.fields[1]._keys", "config.node.type", "config.node.config.operation",
    "config.headers[0].name", "config.headers[0].template", "config.values[0].name", "config.length",
)  # fmt: skip
VALUES = st.sampled_from(
    ["", "x", "in", "n1", "-1", "1e400", "nan", "true", "[1]", "{}", '{"node": 1}', "[", "²", "{{ in.t }}", "null"]
    + [info.name for info in all_types()]
) | st.text(max_size=8)
FIELDS = st.lists(
    st.tuples(st.sampled_from(["nodes[0]", "nodes[1]", "nodes[7]", "connections[0]", "connections[2]"]),
              st.sampled_from((*OPTION_KEYS, "from", "to", "branch")), VALUES),
    max_size=10,
)  # fmt: skip
ACTIONS = st.sampled_from(
    ["view:form", "view:json", "undo", "revert", "add_node", "add_connection", "insert_on:0", "remove_node:1",
     "remove_node:0:alone", "move_node:0:1", "remove_connection:0", "add_row:0", "remove_row:1:0:headers"]
)  # fmt: skip


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(fields=FIELDS, action=ACTIONS, view=st.sampled_from(["form", "json"]))
def test_no_editor_post_is_a_500(page, app, fields, action, view):
    workflow_id = create_workflow(app, page.user, chain(3)) if not hasattr(page, "fuzzed") else page.fuzzed
    page.fuzzed = workflow_id
    posted = [("_view", view), *((f"{where}.{key}", value) for where, key, value in fields)]
    if view == "json":
        nodes = [{key: value} for where, key, value in fields if where.startswith("nodes")]
        posted.append(("definition_json", json.dumps({"nodes": nodes, "connections": []})))
    for path, extra in (("editor", [("action", action)]), ("editor/check", []), ("definition", [])):
        answer = page.post(f"/workflows/{workflow_id}/{path}", [*posted, *extra], htmx=True)
        assert answer.status_code < 500, (path, posted, extra)
