"""Executions over the API: run, read, list, cancel, retry, usage — each test twice,
in local mode (a thread pool) and in queue mode (a real RQ worker process on Redis),
on SQLite and on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.definitions import echo_definition, fan_out_definition, model_definition, spec_example, workflow_body
from tests.waiting import finished, node_reached

EXECUTION_FIELDS = {
    "id",
    "workflow_id",
    "workflow_version",
    "retry_of",
    "trigger",
    "trigger_id",
    "parent_execution_id",
    "status",
    "inputs",
    "outputs",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "usage",
    "nodes",
}


@pytest.fixture
def app(mode_app):
    return mode_app


NODE_FIELDS = {
    "node_id",
    "type",
    "status",
    "started_at",
    "finished_at",
    "duration_ms",
    "output",
    "error",
    "usage",
    "cached",
    "attempts",
    "input",
}


def create(api, definition=None, **fields):
    response = api.post("/workflows", json=workflow_body(definition=definition or echo_definition(), **fields))
    assert response.status_code == 201, response.json
    return response.json["id"]


def test_sync_execute_returns_the_finished_execution(api):
    workflow_id = create(api, spec_example())
    response = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"product": "green tea"}})
    assert response.status_code == 200
    body = response.json
    assert set(body) >= EXECUTION_FIELDS and body["id"].startswith("exec_")
    assert body["status"] == "completed" and body["error"] is None and body["retry_of"] is None
    assert body["workflow_id"] == workflow_id and body["workflow_version"] == 1
    assert body["inputs"] == {"product": "green tea"}
    assert body["outputs"] == {"copy": "Echo: Describe green tea"}
    assert body["duration_ms"] >= 0 and body["finished_at"] >= body["started_at"] >= body["created_at"][:19]
    assert [n["node_id"] for n in body["nodes"]] == ["in", "draft", "long", "short", "out"]
    assert all(set(n) >= NODE_FIELDS for n in body["nodes"])
    nodes = {n["node_id"]: n for n in body["nodes"]}
    assert nodes["short"]["status"] == "skipped"
    # the test server counts words: 4 (system) + 3 (prompt) in, "Echo: Describe green tea" out
    assert nodes["draft"]["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 4,
        "total_tokens": 11,
        "cost_usd": pytest.approx((7 * 0.15 + 4 * 0.60) / 1e6),
    }
    assert body["usage"]["total_tokens"] == 11
    assert body["usage"]["cost_usd"] == nodes["draft"]["usage"]["cost_usd"]


def test_async_execute_answers_202_with_a_status_url(api):
    workflow_id = create(api)
    response = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "hi"}, "async": True})
    assert response.status_code == 202
    body = response.json
    assert set(body) == {"execution_id", "status", "status_url"} and body["status"] == "queued"
    assert body["status_url"].endswith(f"/api/v1/executions/{body['execution_id']}")
    assert finished(api, body["execution_id"])["outputs"] == {"result": "HI"}


def test_invalid_inputs_are_422_and_nothing_runs(api):
    workflow_id = create(api)
    for inputs in ({}, {"text": 5}, {"text": "x" * 501}, {"text": "ok", "extra": 1}, "not an object"):
        response = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": inputs})
        assert response.status_code == 422, inputs
        assert response.json["error"]["details"][0]["path"].startswith("inputs")
    assert api.get(f"/workflows/{workflow_id}/executions").json["total"] == 0
    assert api.get(f"/workflows/{workflow_id}").json["usage_count"] == 0


def test_execute_body_is_checked(api):
    workflow_id = create(api)
    assert (
        api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}, "async": "yes"}).status_code == 422
    )
    assert api.post(f"/workflows/{workflow_id}/execute", json={"input": {"text": "x"}}).status_code == 422
    assert api.post(f"/workflows/{workflow_id}/execute", data="{", content_type="application/json").status_code == 400


def test_usage_count_counts_executions_started(api):
    workflow_id = create(api)
    for _ in range(3):
        api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}})
    assert api.get(f"/workflows/{workflow_id}").json["usage_count"] == 3


def test_concurrent_starts_all_count(api):
    """The database counts each start (a trigger): none lost when starts race on one row."""
    workflow_id = create(api)
    start = lambda _: api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}, "async": True})  # noqa: E731
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(start, range(24)))
    assert {a.status_code for a in answers} == {202}
    assert api.get(f"/workflows/{workflow_id}").json["usage_count"] == 24
    assert api.get(f"/workflows/{workflow_id}/executions").json["total"] == 24  # the user's count row
    for answer in answers:
        finished(api, answer.json["execution_id"])


def test_an_execution_keeps_the_version_it_ran(api):
    workflow_id = create(api)
    first = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "Hi"}}).json
    changed = echo_definition()
    changed["nodes"][1]["config"]["operation"] = "lowercase"
    api.patch(f"/workflows/{workflow_id}", json={"nodes": changed["nodes"]})
    second = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "Hi"}}).json
    assert (first["workflow_version"], first["outputs"]) == (1, {"result": "HI"})
    assert (second["workflow_version"], second["outputs"]) == (2, {"result": "hi"})


def test_a_sync_run_past_the_sync_timeout_answers_202(app, api, model):
    app.config["SYNC_TIMEOUT"] = 0.3
    workflow_id = create(api, model_definition("[[latency=1.5]] {{ in.text }}"))
    response = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "slow"}})
    assert response.status_code == 202 and response.json["status"] in ("queued", "running")
    assert finished(api, response.json["execution_id"])["status"] == "completed"


def test_idempotency_key_returns_the_first_execution(api, model):
    workflow_id = create(api, model_definition())
    headers = {"Idempotency-Key": "order-42"}
    first = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "a"}}, headers=headers).json
    again = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "a"}}, headers=headers).json
    assert again["id"] == first["id"]
    assert model.call_count == 1
    other = api.post(
        f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "a"}}, headers={"Idempotency-Key": "order-43"}
    ).json
    assert other["id"] != first["id"]
    assert api.get(f"/workflows/{workflow_id}").json["usage_count"] == 2


def test_an_idempotency_key_cannot_be_reused_for_another_workflow(api):
    first, second = create(api), create(api, name="second")
    headers = {"Idempotency-Key": "reused"}
    assert api.post(f"/workflows/{first}/execute", json={"inputs": {"text": "a"}}, headers=headers).status_code == 200
    response = api.post(f"/workflows/{second}/execute", json={"inputs": {"text": "a"}}, headers=headers)
    assert response.status_code == 409 and response.json["error"]["code"] == "conflict"


def test_idempotency_keys_are_per_user(api, other_api):
    workflow_id = create(api, public=True)
    headers = {"Idempotency-Key": "same"}
    mine = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "a"}}, headers=headers).json
    theirs = other_api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "a"}}, headers=headers).json
    assert mine["id"] != theirs["id"]


def test_history_is_newest_first_paginated_and_filtered(api):
    workflow_id = create(api, model_definition())
    ids = [
        api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": f"run {i}"}}).json["id"]
        for i in range(3)
    ]
    failed = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "[[status=400]] bad"}}).json
    assert failed["status"] == "failed"
    page = api.get(f"/workflows/{workflow_id}/executions?limit=2").json
    assert page["total"] == 4 and page["has_more"] is True
    assert [e["id"] for e in page["executions"]] == [failed["id"], ids[2]]
    assert "nodes" not in page["executions"][0]
    rest = api.get(f"/workflows/{workflow_id}/executions?limit=2&offset=2").json
    assert [e["id"] for e in rest["executions"]] == [ids[1], ids[0]] and rest["has_more"] is False
    only_failed = api.get(f"/workflows/{workflow_id}/executions?status=failed").json
    assert only_failed["total"] == 1 and only_failed["executions"][0]["id"] == failed["id"]
    assert api.get(f"/workflows/{workflow_id}/executions?status=bogus").status_code == 400
    assert api.get(f"/workflows/{workflow_id}/executions?limit=0").status_code == 400


def test_model_errors_fail_the_execution_with_their_code(api, model):
    workflow_id = create(api, model_definition(retries=0))
    body = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "[[status=500]] x"}}).json
    assert body["status"] == "failed" and body["outputs"] is None
    assert body["error"]["code"] == "model_error" and body["error"]["node_id"] == "gen"
    nodes = {n["node_id"]: n for n in body["nodes"]}
    assert nodes["gen"]["status"] == "failed" and nodes["gen"]["error"]["code"] == "model_error"
    assert nodes["out"]["status"] == "cancelled"


def test_cancel_a_running_execution(api, model):
    workflow_id = create(api, model_definition("[[latency=5]] {{ in.text }}"))
    started = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}, "async": True}).json
    node_reached(api, started["execution_id"], "gen")
    response = api.post(f"/executions/{started['execution_id']}/cancel")
    assert response.status_code == 202 and response.json["status"] == "cancelled"
    assert response.json["error"]["code"] == "cancelled"
    body = finished(api, started["execution_id"])
    nodes = {n["node_id"]: n["status"] for n in body["nodes"]}
    assert nodes == {"in": "completed", "gen": "cancelled", "out": "cancelled"}
    assert api.post(f"/executions/{started['execution_id']}/cancel").status_code == 409


def test_cancelling_a_finished_execution_is_409(api):
    workflow_id = create(api)
    done = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).json
    response = api.post(f"/executions/{done['id']}/cancel")
    assert response.status_code == 409 and response.json["error"]["code"] == "conflict"


def retry_workflow():
    """Two model calls in a row; the second fails once with a 500, then works."""
    definition = fan_out_definition(1)
    definition["nodes"].insert(
        2,
        {"id": "polish", "type": "ai_model", "config": {"prompt": "[[fail=1:500]] polish {{ m0.text }}", "retries": 0}},
    )
    definition["connections"] = [
        {"from": "in", "to": "m0"},
        {"from": "m0", "to": "polish"},
        {"from": "polish", "to": "out"},
    ]
    definition["nodes"][-1]["config"]["fields"] = {"text": "{{ polish.text }}"}
    return definition


def test_retry_reuses_completed_nodes_and_runs_the_rest(api, model):
    workflow_id = create(api, retry_workflow())
    failed = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"topic": "tea"}}).json
    assert failed["status"] == "failed" and failed["error"]["node_id"] == "polish"
    assert model.call_count == 2
    response = api.post(f"/executions/{failed['id']}/retry")
    assert response.status_code == 202
    assert response.json["retry_of"] == failed["id"] and response.json["status_url"].endswith(response.json["id"])
    retried = finished(api, response.json["id"])
    assert retried["status"] == "completed" and retried["retry_of"] == failed["id"]
    assert retried["outputs"]["text"].startswith("Echo: ")
    assert model.call_count == 3, "only the failed node called the model again"
    nodes = {n["node_id"]: n for n in retried["nodes"]}
    assert nodes["m0"]["reused_from"] == failed["id"] and nodes["m0"]["output"] == failed["nodes"][1]["output"]
    assert nodes["m0"]["usage"]["total_tokens"] == 0 and nodes["m0"]["usage"]["cost_usd"] == 0
    assert nodes["polish"]["reused_from"] is None and nodes["polish"]["usage"]["total_tokens"] > 0
    assert retried["usage"]["total_tokens"] == nodes["polish"]["usage"]["total_tokens"]
    assert api.get(f"/workflows/{workflow_id}").json["usage_count"] == 2


def test_retry_of_a_cancelled_execution(api, model):
    workflow_id = create(api, model_definition("[[latency=3]] {{ in.text }}"))
    started = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}, "async": True}).json
    node_reached(api, started["execution_id"], "gen")
    api.post(f"/executions/{started['execution_id']}/cancel")
    retried = api.post(f"/executions/{started['execution_id']}/retry")
    assert retried.status_code == 202
    assert finished(api, retried.json["id"])["status"] == "completed"


def test_retry_of_a_completed_or_running_execution_is_409(api, model):
    workflow_id = create(api, model_definition("[[latency=2]] {{ in.text }}"))
    running = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}, "async": True}).json
    assert api.post(f"/executions/{running['execution_id']}/retry").status_code == 409
    done = finished(api, running["execution_id"])
    assert api.post(f"/executions/{done['id']}/retry").status_code == 409


def test_the_model_cache_answers_only_the_user_it_answered_first(api, other_api, model):
    """Another user whose prompt renders to the same text makes a call of their own:
    never the first user's answer, and never at no cost to them."""
    workflow_id = create(api, model_definition(), public=True)

    def gen(caller) -> dict:
        body = caller.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "same words"}}).json
        return next(n for n in body["nodes"] if n["node_id"] == "gen")

    assert gen(api)["cached"] is False
    assert gen(api)["cached"] is True, "the same user's repeat is answered from the cache"
    theirs = gen(other_api)
    assert theirs["cached"] is False and theirs["usage"]["cost_usd"] > 0
    assert model.call_count == 2


def test_retry_needs_the_workflow_to_be_readable_now(api, other_api, model):
    workflow_id = create(api, model_definition("[[status=500]] {{ in.text }}", retries=0), public=True)
    failed = other_api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).json
    assert failed["status"] == "failed"
    assert api.patch(f"/workflows/{workflow_id}", json={"public": False}).status_code == 200
    response = other_api.post(f"/executions/{failed['id']}/retry")
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    assert api.get(f"/workflows/{workflow_id}").json["usage_count"] == 1, "the refused retry was not counted"


def test_executions_are_visible_only_to_who_started_them(api, other_api):
    private = create(api)
    public = create(api, public=True)
    mine = api.post(f"/workflows/{private}/execute", json={"inputs": {"text": "x"}}).json
    for path in (f"/executions/{mine['id']}",):
        assert other_api.get(path).status_code == 404
    assert other_api.post(f"/executions/{mine['id']}/cancel").status_code == 404
    assert other_api.post(f"/executions/{mine['id']}/retry").status_code == 404
    assert other_api.post(f"/workflows/{private}/execute", json={"inputs": {"text": "x"}}).status_code == 404
    assert other_api.get(f"/workflows/{private}/executions").status_code == 404
    theirs = other_api.post(f"/workflows/{public}/execute", json={"inputs": {"text": "x"}})
    assert theirs.status_code == 200
    assert api.get(f"/executions/{theirs.json['id']}").status_code == 404
    assert api.get(f"/workflows/{public}/executions").json["total"] == 0
    assert other_api.get(f"/workflows/{public}/executions").json["total"] == 1


def test_usage_matches_the_sum_of_node_usage(api, model):
    workflow_id = create(api, fan_out_definition(3))
    other_id = create(api, spec_example(), name="second")
    runs = [api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"topic": f"t{i}"}}).json for i in range(2)]
    runs.append(api.post(f"/workflows/{other_id}/execute", json={"inputs": {"product": "p"}}).json)
    node_tokens = sum(n["usage"]["total_tokens"] for run in runs for n in run["nodes"])
    node_cost = sum(n["usage"]["cost_usd"] for run in runs for n in run["nodes"])
    report = api.get("/usage?days=7").json
    assert report["totals"]["total_tokens"] == node_tokens and report["totals"]["executions"] == 3
    assert report["totals"]["cost_usd"] == pytest.approx(node_cost)
    assert len(report["by_day"]) == 7 and report["by_day"][-1]["total_tokens"] == node_tokens
    by_workflow = {w["workflow_id"]: w for w in report["by_workflow"]}
    assert by_workflow[workflow_id]["executions"] == 2 and by_workflow[other_id]["executions"] == 1
    only = api.get(f"/usage?days=1&workflow_id={other_id}").json
    assert only["totals"]["executions"] == 1
    assert api.get("/usage?days=0").status_code == 400 and api.get("/usage?days=x").status_code == 400
