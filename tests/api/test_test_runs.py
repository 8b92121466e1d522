"""Test runs over the API (docs/api.md, "Test runs"): the draft or an older version,
``until`` a node, ``pinned`` outputs, and each node's recorded input — in local mode and
in queue mode (a real RQ worker), on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.api.test_drafts import broken, lowercase_echo
from tests.api.test_executions import create
from tests.definitions import echo_definition, model_definition, spec_example
from tests.waiting import finished


@pytest.fixture
def app(mode_app):
    return mode_app


def run(api, workflow_id: str, **body) -> dict:
    """Started async and waited for: the same path in both modes."""
    started = api.post(f"/workflows/{workflow_id}/execute", json={"async": True, **body})
    assert started.status_code == 202, started.json
    return finished(api, started.json["execution_id"])


def nodes_of(execution: dict) -> dict:
    return {node["node_id"]: node for node in execution["nodes"]}


def test_the_owner_runs_the_draft_as_a_test_that_changes_no_usage_count(api, other_api):
    workflow_id = create(api, public=True)
    api.put(f"/workflows/{workflow_id}/draft", json=lowercase_echo())
    tested = run(api, workflow_id, inputs={"text": "Hi"}, version="draft")
    assert tested["status"] == "completed" and tested["outputs"] == {"result": "hi"}
    assert tested["trigger"] == "test" and tested["workflow_version"] == 1
    assert api.get(f"/workflows/{workflow_id}").json["usage_count"] == 0
    live = run(api, workflow_id, inputs={"text": "Hi"})  # what everyone else runs is unchanged
    assert live["outputs"] == {"result": "HI"} and live["trigger"] == "api"
    assert api.get(f"/workflows/{workflow_id}").json["usage_count"] == 1
    theirs = other_api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "Hi"}, "version": "draft"})
    assert theirs.status_code == 404


def test_a_draft_with_problems_does_not_run(api):
    workflow_id = create(api)
    api.put(f"/workflows/{workflow_id}/draft", json=broken())
    refused = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "Hi"}, "version": "draft"})
    assert refused.status_code == 422 and refused.json["error"]["details"][0]["code"] == "bad_reference"
    assert api.get(f"/workflows/{workflow_id}/executions").json["total"] == 0


def test_a_run_of_the_draft_keeps_the_draft_it_ran(api):
    workflow_id = create(api)
    api.put(f"/workflows/{workflow_id}/draft", json=lowercase_echo())
    tested = run(api, workflow_id, inputs={"text": "Hi"}, version="draft")
    api.put(f"/workflows/{workflow_id}/draft", json=broken())  # the draft moves on
    again = api.get(f"/executions/{tested['id']}").json
    assert again["outputs"] == {"result": "hi"} and [n["node_id"] for n in again["nodes"]] == ["in", "shout", "out"]


def test_an_older_version_runs_as_a_test_and_an_unknown_one_is_not_found(api):
    workflow_id = create(api)
    api.patch(f"/workflows/{workflow_id}", json=lowercase_echo())  # version 2
    old = run(api, workflow_id, inputs={"text": "Hi"}, version=1)
    assert old["outputs"] == {"result": "HI"} and old["workflow_version"] == 1 and old["trigger"] == "test"
    latest = run(api, workflow_id, inputs={"text": "Hi"}, version=2)
    assert latest["outputs"] == {"result": "hi"} and latest["trigger"] == "api"
    missing = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "Hi"}, "version": 9})
    assert missing.status_code == 404
    for version in (0, "published", 1.5):
        bad = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "Hi"}, "version": version})
        assert bad.status_code == 422, version


def test_until_runs_a_node_and_what_is_upstream_of_it_only(api, model):
    workflow_id = create(api, model_definition("Say {{ in.text }}", cache=False))
    tested = run(api, workflow_id, inputs={"text": "tea"}, until="gen")
    nodes = nodes_of(tested)
    assert tested["status"] == "completed" and tested["trigger"] == "test"
    assert nodes["gen"]["status"] == "completed" and nodes["gen"]["output"]["text"] == "Echo: Say tea"
    assert nodes["out"]["status"] == "skipped" and tested["outputs"] == {}
    unknown = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "t"}, "until": "nowhere"})
    assert unknown.status_code == 422 and unknown.json["error"]["details"][0]["path"] == "until"


def test_a_pinned_output_is_used_instead_of_running_the_node(api, model):
    workflow_id = create(api, model_definition("Say {{ in.text }}", cache=False))
    given = {"text": "pinned answer", "model": "gpt-4o-mini"}
    tested = run(api, workflow_id, inputs={"text": "tea"}, version="draft", pinned={"gen": given})
    nodes = nodes_of(tested)
    assert tested["status"] == "completed" and tested["outputs"] == {"answer": "pinned answer"}
    assert nodes["gen"]["pinned"] is True and nodes["gen"]["output"] == given
    assert nodes["gen"]["usage"]["total_tokens"] == 0 and tested["usage"]["total_tokens"] == 0
    assert not nodes["out"]["pinned"]
    assert model.calls == []  # no call reached the model server
    live = run(api, workflow_id, inputs={"text": "tea"})
    assert not any(n["pinned"] for n in live["nodes"])


def test_pinned_outputs_are_checked(app, api):
    workflow_id = create(api, model_definition())
    url = f"/workflows/{workflow_id}/execute"
    unknown = api.post(url, json={"inputs": {"text": "t"}, "pinned": {"ghost": {}}})
    assert unknown.status_code == 422 and unknown.json["error"]["details"][0]["path"] == "pinned.ghost"
    assert api.post(url, json={"inputs": {"text": "t"}, "pinned": {"gen": "text"}}).status_code == 422
    huge = {"text": "x" * (app.config["MAX_NODE_OUTPUT_BYTES"] + 1)}
    too_large = api.post(url, json={"inputs": {"text": "t"}, "pinned": {"gen": huge}})
    assert too_large.status_code in (413, 422)
    assert api.get(f"/workflows/{workflow_id}/executions").json["total"] == 0


def test_a_pinned_condition_gives_its_result(api):
    """The runner reads a condition's result to choose a branch: a pinned one must hold it."""
    workflow_id = create(api, spec_example())  # in → draft → long (a condition) → short | out
    url = f"/workflows/{workflow_id}/execute"
    inputs = {"product": "a lamp"}
    for wrong in ({}, {"result": "yes"}):
        refused = api.post(url, json={"inputs": inputs, "pinned": {"long": wrong}})
        assert refused.status_code == 422 and refused.json["error"]["details"][0]["path"] == "pinned.long"
    taken = api.post(url, json={"inputs": inputs, "pinned": {"long": {"result": False}}})
    assert taken.status_code == 200 and nodes_of(taken.json)["short"]["status"] == "skipped"


def test_each_node_records_its_rendered_input_with_secret_headers_masked(api, model, api_server):
    """The call is refused (loopback is not allowed here), after its templates were
    rendered: what it would have sent is recorded, without the secrets."""
    definition = echo_definition()
    definition["nodes"].insert(
        2,
        {
            "id": "call",
            "type": "http_request",
            "on_error": "continue",
            "config": {
                "method": "POST",
                "url": api_server.url("/echo"),
                "headers": {
                    "Authorization": "Bearer s3cret-ultra",
                    "X-Api-Key": "k3y-ultra",
                    "X-Trace": "{{ in.text }}",
                },
                "body": '{{ {"said": shout.value} }}',
            },
        },
    )
    definition["connections"] = [
        {"from": "in", "to": "shout"},
        {"from": "shout", "to": "call"},
        {"from": "call", "to": "out"},
    ]
    workflow_id = create(api, definition)
    tested = run(api, workflow_id, inputs={"text": "hi"})
    nodes = nodes_of(tested)
    assert nodes["shout"]["input"] == "hi"
    shown = nodes["call"]["input"]
    assert nodes["call"]["status"] == "failed" and nodes["call"]["error"]["code"] == "blocked_destination"
    assert shown["method"] == "POST" and shown["url"] == api_server.url("/echo")
    assert shown["headers"] == {"Authorization": "…", "X-Api-Key": "…", "X-Trace": "hi"}
    assert shown["body"] == {"said": "HI"}
    # "-ultra": never inside a random id (no "u" in their alphabet): "k3y" alone was, once.
    assert "s3cret-ultra" not in str(tested) and "k3y-ultra" not in str(tested)
