"""The ``workflow`` node: another workflow run as a real child execution — in local
mode and in queue mode (a real RQ worker), on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.api.test_executions import create
from tests.definitions import model_definition
from tests.waiting import finished, node_reached


@pytest.fixture
def app(mode_app):
    return mode_app


def caller(workflow_id: str, inputs: dict | None = None) -> dict:
    """input(text) → workflow node → output of the child's outputs."""
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {
                "id": "sub",
                "type": "workflow",
                "config": {"workflow_id": workflow_id, "inputs": inputs or {"text": "{{ in.text }}"}},
            },
            {"id": "out", "type": "output", "config": {"fields": {"got": "{{ sub.outputs }}"}}},
        ],
        "connections": [{"from": "in", "to": "sub"}, {"from": "sub", "to": "out"}],
    }


def test_a_workflow_node_runs_a_child_execution_and_counts_its_usage(api, model):
    child_workflow = create(api, model_definition("Summarise: {{ in.text }}", cache=False), name="Child")
    parent_workflow = create(api, caller(child_workflow), name="Parent")
    parent = api.post(f"/workflows/{parent_workflow}/execute", json={"inputs": {"text": "tea"}}).json
    assert parent["status"] == "completed", parent["error"]
    sub = next(n for n in parent["nodes"] if n["node_id"] == "sub")
    child_id = sub["output"]["execution_id"]
    assert parent["outputs"] == {"got": sub["output"]["outputs"]} and "answer" in sub["output"]["outputs"]
    child = api.get(f"/executions/{child_id}").json
    assert child["parent_execution_id"] == parent["id"] and child["trigger"] == "workflow"
    assert child["workflow_id"] == child_workflow and child["status"] == "completed"
    assert parent["trigger"] == "api" and parent["parent_execution_id"] is None
    # the child's tokens count in the parent's totals, and only once in the usage report
    assert child["usage"]["total_tokens"] > 0
    assert parent["usage"]["total_tokens"] == sub["usage"]["total_tokens"] == child["usage"]["total_tokens"]
    report = api.get("/usage").json
    assert report["totals"]["total_tokens"] == parent["usage"]["total_tokens"]
    assert report["totals"]["executions"] == 1
    # the child is in the history of its workflow
    history = api.get(f"/workflows/{child_workflow}/executions").json["executions"]
    assert [e["id"] for e in history] == [child_id]
    assert model.call_count == 1


def test_a_child_that_fails_fails_the_node_with_its_code(api, model):
    child_workflow = create(api, model_definition("[[status=400]] {{ in.text }}", retries=0), name="Child")
    parent = api.post(f"/workflows/{create(api, caller(child_workflow))}/execute", json={"inputs": {"text": "x"}}).json
    assert parent["status"] == "failed" and parent["error"]["code"] == "model_error"
    assert "child execution" in parent["error"]["message"]


def test_inputs_the_child_refuses_fail_the_node_and_start_nothing(api, model):
    child_workflow = create(api, model_definition(), name="Child")  # its input: text, a required string
    parent_workflow = create(api, caller(child_workflow, {"text": "{{ 42 }}", "extra": "x"}))
    parent = api.post(f"/workflows/{parent_workflow}/execute", json={"inputs": {"text": "x"}}).json
    sub = next(n for n in parent["nodes"] if n["node_id"] == "sub")
    assert parent["status"] == "failed" and sub["error"]["code"] == "invalid_input"
    assert "'text' must be a string" in sub["error"]["message"] and "'extra' is not an input" in sub["error"]["message"]
    assert api.get(f"/workflows/{child_workflow}/executions").json["total"] == 0 and model.call_count == 0


def test_a_workflow_node_cannot_reach_another_users_private_workflow(api, other_api):
    private = other_api.post("/workflows", json={"name": "Theirs", **model_definition()}).json["id"]
    parent = api.post(f"/workflows/{create(api, caller(private))}/execute", json={"inputs": {"text": "x"}}).json
    assert parent["status"] == "failed"
    assert "no workflow" in parent["error"]["message"] and private in parent["error"]["message"]
    assert other_api.get(f"/workflows/{private}/executions").json["total"] == 0


def test_a_public_workflow_of_another_user_runs_as_the_caller(api, other_api, model):
    public = other_api.post("/workflows", json={"name": "Shared", "public": True, **model_definition()}).json["id"]
    parent = api.post(f"/workflows/{create(api, caller(public))}/execute", json={"inputs": {"text": "x"}}).json
    assert parent["status"] == "completed", parent["error"]
    child_id = next(n for n in parent["nodes"] if n["node_id"] == "sub")["output"]["execution_id"]
    assert api.get(f"/executions/{child_id}").status_code == 200  # the caller's execution
    assert other_api.get(f"/executions/{child_id}").status_code == 404


def test_a_workflow_calling_itself_fails_with_recursion(api):
    workflow_id = create(api, caller("wf_00000000000000000000000000"))
    body = {"name": "Loop", **caller(workflow_id)}
    assert api.put(f"/workflows/{workflow_id}", json=body).status_code == 200
    parent = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).json
    assert parent["status"] == "failed" and parent["error"]["code"] == "recursion"


def test_a_cycle_through_two_workflows_fails_with_recursion(api):
    first = create(api, caller("wf_00000000000000000000000000"), name="A")
    second = create(api, caller(first), name="B")
    api.put(f"/workflows/{first}", json={"name": "A", **caller(second)})
    parent = api.post(f"/workflows/{first}/execute", json={"inputs": {"text": "x"}}).json
    assert parent["status"] == "failed" and parent["error"]["code"] == "recursion"
    assert "already running" in parent["error"]["message"]


def test_nesting_deeper_than_the_bound_fails_with_recursion(api, model):
    depth = 5  # MAX_WORKFLOW_DEPTH's default
    chain = [create(api, model_definition(), name="Leaf")]
    for level in range(depth + 1):
        chain.append(create(api, caller(chain[-1]), name=f"Level {level}"))
    too_deep = api.post(f"/workflows/{chain[-1]}/execute", json={"inputs": {"text": "x"}}).json
    assert too_deep["status"] == "failed" and too_deep["error"]["code"] == "recursion"
    assert model.call_count == 0
    deepest_allowed = api.post(f"/workflows/{chain[-2]}/execute", json={"inputs": {"text": "x"}}).json
    assert deepest_allowed["status"] == "completed", deepest_allowed["error"]


def test_cancelling_the_parent_cancels_the_child(api, model):
    child_workflow = create(api, model_definition("[[latency=20]] {{ in.text }}", cache=False), name="Slow")
    parent_workflow = create(api, caller(child_workflow))
    started = api.post(f"/workflows/{parent_workflow}/execute", json={"inputs": {"text": "x"}, "async": True}).json
    parent_id = started["execution_id"]
    node_reached(api, parent_id, "sub")
    children = []
    while not children:
        children = api.get(f"/workflows/{child_workflow}/executions").json["executions"]
    node_reached(api, children[0]["id"], "gen")
    assert api.post(f"/executions/{parent_id}/cancel").status_code == 202
    child = finished(api, children[0]["id"], timeout=10)
    assert child["status"] == "cancelled"
    assert finished(api, parent_id)["status"] == "cancelled"


def test_a_map_of_a_workflow_node_runs_a_child_per_item(api, model):
    child_workflow = create(api, model_definition("Echo {{ in.text }}"), name="Child")
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "list", "type": "array"}]}},
            {
                "id": "each",
                "type": "map",
                "config": {
                    "items": "{{ in.list }}",
                    "node": {
                        "type": "workflow",
                        "config": {"workflow_id": child_workflow, "inputs": {"text": "{{ item }}"}},
                    },
                },
            },
            {
                "id": "out",
                "type": "output",
                "config": {"fields": {"all": "{{ each.values | map(attribute='outputs') | list }}"}},
            },
        ],
        "connections": [{"from": "in", "to": "each"}, {"from": "each", "to": "out"}],
    }
    run = api.post(f"/workflows/{create(api, definition)}/execute", json={"inputs": {"list": ["a", "b", "c"]}}).json
    assert run["status"] == "completed", run["error"]
    assert len(run["outputs"]["all"]) == 3 and model.call_count == 3
    assert api.get(f"/workflows/{child_workflow}/executions").json["total"] == 3
    assert run["usage"]["total_tokens"] == sum(
        api.get(f"/executions/{value['execution_id']}").json["usage"]["total_tokens"]
        for value in next(n for n in run["nodes"] if n["node_id"] == "each")["output"]["values"]
    )
