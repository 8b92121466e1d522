"""Node inputs and child inputs are held to the bounds as a run records and hands them
on (issue 31, finding 3), in local mode and in queue mode, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.api.test_executions import create
from tests.api.test_workflow_node import caller

# The issue's: 500 strings of 200,000 characters, a 100 MB node input that was stored whole.
HUNDRED_MB = "{{ range(500)|map('string')|map('center',199999)|list }}"


@pytest.fixture
def app(mode_app):
    return mode_app


def counting(template: str) -> dict:
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {"id": "count", "type": "processing", "config": {"operation": "word_count", "input": template}},
            {"id": "out", "type": "output", "config": {"fields": {"words": "{{ count.value }}"}}},
        ],
        "connections": [{"from": "in", "to": "count"}, {"from": "count", "to": "out"}],
    }


def test_a_node_input_over_the_bound_fails_the_node_and_nothing_large_is_stored(api):
    workflow_id = create(api, counting(HUNDRED_MB))
    answer = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}})
    body = answer.json
    assert body["status"] == "failed" and body["error"]["code"] == "resource_limit"
    count = next(node for node in body["nodes"] if node["node_id"] == "count")
    assert count["status"] == "failed" and count["error"]["code"] == "resource_limit"
    assert count["input"] is None and count["output"] is None
    stored = api.get(f"/executions/{body['id']}")
    assert len(stored.data) < 20_000  # was 100 MB, and the page took 4.4 s


def child_inputs_array(items: int) -> str:
    """A list of ``items`` strings of 1,000 characters: about ``items`` KB as JSON."""
    return "{{ range(" + str(items) + ")|map('string')|map('center', 1000)|list }}"


@pytest.mark.parametrize(
    ("items", "over"),
    [
        (1300, "what the step made"),
        (500, "the child's inputs"),
    ],  # 1.3 MB: past every bound; 500 KB: past MAX_INPUT_BYTES
)
def test_a_workflow_node_cannot_hand_a_child_inputs_over_the_input_bound(api, items, over):
    child_workflow = create(
        api,
        {
            "nodes": [
                {"id": "in", "type": "input", "config": {"fields": [{"name": "list", "type": "array"}]}},
                {"id": "out", "type": "output", "config": {"fields": {"n": "{{ in.list|length }}"}}},
            ],
            "connections": [{"from": "in", "to": "out"}],
        },
        name="Child",
    )
    parent_workflow = create(api, caller(child_workflow, {"list": child_inputs_array(items)}))
    body = api.post(f"/workflows/{parent_workflow}/execute", json={"inputs": {"text": "x"}}).json
    sub = next(node for node in body["nodes"] if node["node_id"] == "sub")
    assert body["status"] == "failed" and sub["error"]["code"] == "resource_limit"
    assert over in sub["error"]["message"]
    assert api.get(f"/workflows/{child_workflow}/executions").json["total"] == 0  # no child started
    assert len(json.dumps(api.get(f"/executions/{body['id']}").json)) < 20_000
