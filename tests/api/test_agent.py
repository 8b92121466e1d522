"""The ``agent`` node: a model calling tools (a workflow as a real child execution, an HTTP
endpoint) in a bounded loop, in local mode and in queue mode (a real RQ worker), against
the loopback model server's tool-call directives (tests/model_server.py)."""

from __future__ import annotations

import pytest

from tests.api.test_executions import create
from tests.conftest import Workers, close_app, cold_model_cache, make_app
from tests.definitions import model_definition
from tests.waiting import eventually, finished, node_reached
from webapp.extensions import db
from webapp.models import User


@pytest.fixture(scope="session")
def agent_workers(model_server):
    """One worker per database whose HTTP calls may reach the loopback API server."""
    workers = Workers(model_server, "agent", HTTP_ALLOWED_HOSTS="127.0.0.1")
    yield workers
    workers.stop()


@pytest.fixture
def app(execution_mode, database_url, model, request):
    settings = {"HTTP_ALLOWED_HOSTS": "127.0.0.1"}  # the loopback API server stands for a public API
    if execution_mode == "queue":
        redis_url = request.getfixturevalue("redis_url")
        worker = request.getfixturevalue("agent_workers")(database_url, redis_url)
        cold_model_cache(redis_url)
        settings.update(REDIS_URL=redis_url, RQ_QUEUE=worker.queue)
    app = make_app(database_url, model.base_url, **settings)
    yield app
    close_app(app)


def search_tool(api_server, path: str = "/echo") -> dict:
    return {
        "name": "search",
        "description": "Searches the web.",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string", "description": "What to look for"}},
            "required": ["q"],
        },
        "http": {
            "method": "GET",
            "url": api_server.url(path),
            "query": {"q": "{{ args.q | trim }}", "from": "{{ in.text }}"},
        },
    }


def agent_definition(prompt: str, tools: list, **config) -> dict:
    """input(text) → agent → output of its text."""
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {
                "id": "agent",
                "type": "agent",
                "config": {"model": "gpt-4o-mini", "prompt": prompt, "tools": tools, **config},
            },
            {"id": "out", "type": "output", "config": {"fields": {"answer": "{{ agent.text }}"}}},
        ],
        "connections": [{"from": "in", "to": "agent"}, {"from": "agent", "to": "out"}],
    }


def run(api, workflow_id: str, text: str = "tea", **body) -> dict:
    return api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": text}, **body}).json


def agent_node(execution: dict) -> dict:
    return next(n for n in execution["nodes"] if n["node_id"] == "agent")


def test_an_agent_calls_an_http_tool_then_a_workflow_tool_and_answers_from_their_results(api, model, api_server):
    child_workflow = create(api, model_definition("Summarise: {{ in.text }}", cache=False), name="Summariser")
    tools = [search_tool(api_server), {"name": "summarise", "workflow_id": child_workflow}]
    # templates that compute (the prompt's, the HTTP tool's) run in a sandbox process
    prompt = '{{ in.text | upper }} [[call=search {"q": " green tea "}]] [[call=summarise {"text": "leaves"}]]'
    execution = run(api, create(api, agent_definition(prompt, tools)), text="tea facts")
    assert execution["status"] == "completed", execution["error"]
    node = agent_node(execution)
    steps = node["output"]["steps"]
    assert [(s["tool"], s["arguments"]) for s in steps] == [
        ("search", {"q": " green tea "}),
        ("summarise", {"text": "leaves"}),
    ]
    # the HTTP tool's templates saw args and upstream values
    assert steps[0]["output"]["status"] == 200
    assert steps[0]["output"]["body"]["query"] == {"q": "green tea", "from": "tea facts"}
    # the workflow tool ran as a real child execution of this one
    child = api.get(f"/executions/{steps[1]['execution_id']}").json
    assert child["parent_execution_id"] == execution["id"] and child["workflow_id"] == child_workflow
    assert child["status"] == "completed" and steps[1]["output"] == child["outputs"]
    assert child["outputs"]["answer"] == "Echo: Summarise: leaves"
    assert all(s["duration_ms"] >= 0 and "error" not in s for s in steps)
    # each result went back to the model, which answered from them
    answer = node["output"]["text"]
    assert answer.startswith("Tools said: ") and "green tea" in answer and "Echo: Summarise: leaves" in answer
    assert execution["outputs"] == {"answer": answer}
    # the model was told the tools: the workflow's input fields as the summariser's parameters
    first = next(c["body"] for c in model.calls if "[[call=search" in c["prompt"])
    declared = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert declared["summarise"]["parameters"]["properties"] == {"text": {"type": "string"}}
    assert declared["summarise"]["parameters"]["required"] == ["text"]
    assert declared["search"]["description"] == "Searches the web."
    # usage: three model calls of the loop and the child's one, summed once
    agent_calls = [c for c in model.calls if "[[call=search" in c["prompt"]]
    assert len(agent_calls) == 3 and model.call_count == 4
    assert child["usage"]["total_tokens"] > 0
    assert node["usage"]["total_tokens"] == node["output"]["usage"]["total_tokens"]
    assert node["usage"]["total_tokens"] > child["usage"]["total_tokens"]
    assert execution["usage"]["total_tokens"] == node["usage"]["total_tokens"]
    assert api.get("/usage").json["totals"]["total_tokens"] == execution["usage"]["total_tokens"]
    # the node's input shows the rendered prompt and the tool list
    assert node["input"]["prompt"].startswith("TEA FACTS")
    assert [t["name"] for t in node["input"]["tools"]] == ["search", "summarise"]


def test_arguments_that_do_not_fit_go_back_to_the_model_as_that_steps_error(api, model, api_server):
    prompt = '[[call=search {"q": 5}]] [[call=search not json]] [[call=lookup {}]] [[call=search {"q": "ok", "x": 1}]]'
    calls_before = len(api_server.calls)
    execution = run(api, create(api, agent_definition(prompt, [search_tool(api_server)])))
    assert execution["status"] == "completed", execution["error"]
    steps = agent_node(execution)["output"]["steps"]
    assert [s.get("error", "") for s in steps] == [
        "'q' must be a string",
        steps[1]["error"],
        "there is no tool named 'lookup'",
        "'x' is not a parameter",
    ]
    assert steps[1]["error"].startswith("the arguments are not valid JSON") and steps[1]["arguments"] == "not json"
    assert all("output" not in s for s in steps)
    assert agent_node(execution)["output"]["text"].count('{"error":') == 4
    assert len(api_server.calls) == calls_before  # no tool ran


def test_more_tool_calls_than_max_steps_fail_the_node_with_resource_limit(api, model, api_server):
    prompt = '[[call=search {"q": "a"}]] [[call=search {"q": "b"}]] [[also=search {"q": "c"}]]'
    execution = run(api, create(api, agent_definition(prompt, [search_tool(api_server)], max_steps=2)))
    assert execution["status"] == "failed" and execution["error"]["code"] == "resource_limit"
    node = agent_node(execution)
    assert "max_steps is 2" in node["error"]["message"]
    # the steps it made are kept on the failed node, to see why
    assert [s["arguments"] for s in node["output"]["steps"]] == [{"q": "a"}]
    assert node["usage"]["total_tokens"] > 0  # the two model calls made still count
    assert execution["usage"]["total_tokens"] == node["usage"]["total_tokens"]


def test_a_tool_on_another_users_private_workflow_is_refused(api, other_api, model):
    private = other_api.post("/workflows", json={"name": "Theirs", **model_definition()}).json["id"]
    tools = [{"name": "theirs", "workflow_id": private}]
    execution = run(api, create(api, agent_definition('[[call=theirs {"text": "x"}]]', tools)))
    assert execution["status"] == "failed"
    assert "no workflow" in execution["error"]["message"] and private in execution["error"]["message"]
    assert other_api.get(f"/workflows/{private}/executions").json["total"] == 0
    assert model.call_count == 0  # refused before the model was asked anything


def test_two_tool_calls_in_one_answer_run_at_once(api, model, api_server):
    tool = search_tool(api_server, "/slow")
    tool["http"]["query"] = {"s": "{{ args.q }}"}
    with api_server.lock:
        api_server.most_in_flight = 0
    prompt = '[[call=search {"q": "1"}]] [[also=search {"q": "1"}]]'
    execution = run(api, create(api, agent_definition(prompt, [tool])))
    assert execution["status"] == "completed", execution["error"]
    steps = agent_node(execution)["output"]["steps"]
    assert [s["output"]["body"]["slept"] for s in steps] == [1.0, 1.0]
    assert api_server.most_in_flight == 2  # the two requests were answered at the same time


def test_cancel_stops_the_loop_and_its_child_mid_step(api, model):
    child_workflow = create(api, model_definition("[[latency=20]] {{ in.text }}", cache=False), name="Slow")
    tools = [{"name": "slow", "workflow_id": child_workflow}]
    prompt = '[[call=slow {"text": "a"}]] [[call=slow {"text": "b"}]]'
    started = run(api, create(api, agent_definition(prompt, tools)), **{"async": True})
    parent_id = started["execution_id"]
    node_reached(api, parent_id, "agent")

    def child() -> dict | None:
        found = api.get(f"/workflows/{child_workflow}/executions").json["executions"]
        return found[0] if found else None

    child_id = eventually(child, what="the tool's child execution")["id"]
    node_reached(api, child_id, "gen")
    assert api.post(f"/executions/{parent_id}/cancel").status_code == 202
    assert finished(api, child_id, timeout=10)["status"] == "cancelled"
    parent = finished(api, parent_id)
    assert parent["status"] == "cancelled"
    assert agent_node(parent)["status"] == "cancelled"
    assert api.get(f"/workflows/{child_workflow}/executions").json["total"] == 1  # no second step began


def test_the_budget_is_checked_before_every_model_call_of_the_loop(app, api, model, api_server):
    with app.app_context():
        db.session.get(User, api.user.id).token_budget = 40
        db.session.commit()
    prompt = " ".join('[[call=search {"q": "more"}]]' for _ in range(10))
    execution = run(api, create(api, agent_definition(prompt, [search_tool(api_server)], max_steps=10)))
    assert execution["status"] == "failed" and execution["error"]["code"] == "budget_exceeded"
    node = agent_node(execution)
    assert node["error"]["code"] == "budget_exceeded"
    assert 1 <= model.call_count < 11  # the loop stopped at the call after the one that crossed it
    assert node["usage"]["total_tokens"] > 0  # what the calls made spent still counts
    assert execution["usage"]["total_tokens"] == node["usage"]["total_tokens"]
