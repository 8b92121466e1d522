"""The ``map`` node: every option and failure, over real HTTP (the loopback API and
the model api_server) and, for computing templates, real sandbox processes."""

from __future__ import annotations

import pytest

from tests.engine.conftest import make_gateway
from tests.waiting import eventually
from webapp.engine import runner
from webapp.engine.definition import parse_definition
from webapp.engine.errors import DefinitionError
from webapp.engine.expressions import Expressions
from webapp.engine.isolation import Bounds, SandboxPool
from webapp.outbound import Destinations, HttpClient

EXPRESSIONS = Expressions()


@pytest.fixture
def calls(api_server):
    # A slow answer another test gave up on may still be on its way.
    eventually(lambda: not api_server.in_flight, timeout=5, what="the API server to finish its answers")
    api_server.calls.clear()
    api_server.most_in_flight = 0
    return api_server.calls


OUTPUT = {"id": "out", "type": "output", "config": {"template": "{{ each }}"}}


def mapping(config: dict, fields=None) -> dict:
    fields = fields or [{"name": "list", "type": "array"}]
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": fields}},
            {"id": "each", "type": "map", "config": config},
            OUTPUT,
        ],
        "connections": [{"from": "in", "to": "each"}, {"from": "each", "to": "out"}],
    }


def run_map(config: dict, inputs: dict, *, gateway=None, limits=None, isolation=None):
    graph = parse_definition(mapping(config), EXPRESSIONS)
    http = HttpClient(Destinations.parse("127.0.0.1"), 1 << 20)
    result = runner.run(graph, inputs, models=gateway, http=http, limits=limits, isolation=isolation)
    return result, result.records["each"]


def step(template: str) -> dict:
    return {"type": "processing", "config": {"operation": "template", "template": template}}


def test_values_come_back_in_item_order_with_item_and_index_in_scope():
    _, record = run_map(
        {"items": "{{ in.list }}", "node": step("{{ index }}:{{ item | upper }}")}, {"list": list("abc")}
    )
    assert record.status == "completed"
    assert record.output["values"] == [{"value": "0:A"}, {"value": "1:B"}, {"value": "2:C"}]
    assert record.output["results"] == ["0:A", "1:B", "2:C"]  # each item's main value, for join and loops
    assert record.output["errors"] == []


def test_results_hold_each_items_main_value_whatever_the_inner_type(model, api_server, calls):
    prompts = {"items": "{{ in.list }}", "node": {"type": "ai_model", "config": {"prompt": "Say {{ item }}"}}}
    _, said = run_map(prompts, {"list": ["a", "b"]}, gateway=make_gateway(model.base_url))
    assert said.output["results"] == [value["text"] for value in said.output["values"]]
    assert all(isinstance(text, str) and text for text in said.output["results"])
    fetches = {"items": "{{ in.list }}", "node": {"type": "http_request", "config": {"url": "{{ item }}"}}}
    _, fetched = run_map(fetches, {"list": [api_server.url("/echo"), api_server.url("/text")]})
    json_answer, text_answer = fetched.output["values"]
    assert fetched.output["results"] == [json_answer["json"], text_answer["text"]]  # JSON when it was, else text
    assert fetched.output["results"][1] is not None
    parsed = {
        "items": "{{ in.list }}",
        "node": {"type": "processing", "config": {"operation": "json_parse", "input": "{{ item }}"}},
        "on_item_error": "skip",
    }
    _, skipped = run_map(parsed, {"list": ['{"a": 1}', "not json"]})
    assert skipped.output["results"] == [{"a": 1}, None]  # a skipped item's result is null, as its value


@pytest.mark.parametrize(
    ("items", "fields", "refused"),
    [
        ("{{ in.text }}", [{"name": "text", "type": "string"}], "in.text never is one"),
        ("{{ in.text }}", [{"name": "text"}], "in.text never is one"),  # a field is a string unless typed
        ("{{ in.list }}", [{"name": "list", "type": "array"}], None),
        ("{{ in.text.split() }}", [{"name": "text", "type": "string"}], None),  # computed: judged when it runs
    ],
)
def test_items_that_only_name_an_output_that_is_never_a_list_are_refused_before_a_run(items, fields, refused):
    definition = mapping({"items": items, "node": step("{{ item }}")}, fields)
    if refused is None:
        parse_definition(definition, EXPRESSIONS)
        return
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition, EXPRESSIONS)
    (problem,) = caught.value.problems
    assert problem.path == "nodes[1].config.items" and refused in problem.message


@pytest.mark.parametrize(
    ("source", "output", "refused"),
    [
        ({"type": "http_request", "config": {"url": "https://example.com"}}, "status", True),
        ({"type": "http_request", "config": {"url": "https://example.com"}}, "json", False),
        ({"type": "ai_model", "config": {"prompt": "x"}}, "text", True),
        ({"type": "ai_model", "config": {"prompt": "x", "response_format": "json"}}, "json", False),
        ({"type": "processing", "config": {"operation": "word_count", "input": "x"}}, "value", True),
        ({"type": "processing", "config": {"operation": "split", "input": "x", "separator": ","}}, "value", False),
        ({"type": "conditional", "config": {"condition": "true"}}, "result", True),
    ],
)
def test_which_outputs_can_be_a_maps_items(source, output, refused):
    branch = {"branch": "true"} if source["type"] == "conditional" else {}
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": []}},
            {"id": "src", **source},
            {"id": "each", "type": "map", "config": {"items": f"{{{{ src.{output} }}}}", "node": step("{{ item }}")}},
            OUTPUT,
        ],
        "connections": [
            {"from": "in", "to": "src"},
            {"from": "src", "to": "each", **branch},
            {"from": "each", "to": "out"},
        ],
    }
    if not refused:
        parse_definition(definition, EXPRESSIONS)
        return
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition, EXPRESSIONS)
    assert [p.path for p in caught.value.problems] == ["nodes[2].config.items"]


def test_items_run_at_once_up_to_the_concurrency(api_server, calls):
    config = {
        "items": "{{ in.list }}",
        "node": {"type": "http_request", "config": {"url": api_server.url("/slow?s=1&i={{ item }}")}},
    }
    _, record = run_map({**config, "concurrency": 4}, {"list": [1, 2, 3, 4]})
    assert record.status == "completed" and api_server.most_in_flight == 4  # all four answered at once
    assert record.finished_at - record.started_at < 2  # four 1 s items, not 4 s
    assert [value["json"]["slept"] for value in record.output["values"]] == [1, 1, 1, 1]
    api_server.most_in_flight = 0
    run_map({**config, "concurrency": 2}, {"list": [1, 2, 3, 4]})
    assert api_server.most_in_flight == 2


def test_a_failed_item_fails_the_node_by_default_and_is_skipped_when_asked():
    config = {
        "items": "{{ in.list }}",
        "node": {"type": "processing", "config": {"operation": "json_parse", "input": "{{ item }}"}},
    }
    items = ['{"a": 1}', "not json", "[2]"]
    _, failed = run_map(config, {"list": items})
    assert failed.status == "failed" and failed.error["code"] == "invalid_json" and "item 1" in failed.error["message"]
    _, skipped = run_map({**config, "on_item_error": "skip"}, {"list": items})
    assert skipped.status == "completed"
    assert skipped.output["values"] == [{"value": {"a": 1}}, None, {"value": [2]}]
    assert [error["index"] for error in skipped.output["errors"]] == [1]
    assert [item["status"] for item in skipped.output["items"]] == ["completed", "failed", "completed"]


def test_every_items_tokens_and_cost_count_in_the_node_and_the_run(model):
    gateway = make_gateway(model.base_url, prices={"gpt-4o-mini": {"prompt": 150.0, "completion": 600.0}})
    config = {
        "items": "{{ in.list }}",
        "node": {"type": "ai_model", "config": {"prompt": "Say {{ item }}", "cache": False}},
    }
    result, record = run_map(config, {"list": ["a", "b", "c"]}, gateway=gateway)
    assert record.status == "completed" and model.call_count == 3
    per_item = [value["usage"]["total_tokens"] for value in record.output["values"]]
    assert record.usage.total_tokens == sum(per_item) > 0
    assert (
        record.cost_usd == pytest.approx(sum(value["cost_usd"] for value in record.output["values"]))
        and record.cost_usd > 0
    )
    assert sum(r.usage.total_tokens for r in result.records.values() if r.usage) == record.usage.total_tokens


def test_a_failing_map_still_counts_what_its_finished_items_spent(model):
    gateway = make_gateway(model.base_url, retries=0)
    config = {
        "items": "{{ in.list }}",
        "node": {"type": "ai_model", "config": {"prompt": "{{ item }}", "cache": False}},
        "concurrency": 1,
    }
    _, record = run_map(config, {"list": ["fine", "[[status=500]] broken", "never"]}, gateway=gateway)
    assert record.status == "failed" and record.error["code"] == "model_error"
    assert record.usage.total_tokens > 0  # the first item's tokens are not lost
    assert model.call_count == 2  # the third item never started


def test_more_items_than_the_bound_fail_the_node():
    config = {"items": "{{ in.list }}", "node": step("{{ item }}")}
    _, record = run_map(config, {"list": [1, 2, 3]}, limits=runner.Limits(max_map_items=2))
    assert record.status == "failed" and record.error["code"] == "resource_limit"


def test_items_that_are_not_a_list_fail_the_node():
    _, record = run_map({"items": "{{ in.list | length }}", "node": step("{{ item }}")}, {"list": [1]})
    assert record.status == "failed" and "must give a list" in record.error["message"]


def test_the_run_deadline_stops_a_map_between_items_and_inside_them(api_server, calls):
    config = {
        "items": "{{ in.list }}",
        "node": {"type": "http_request", "config": {"url": api_server.url("/slow?s=1")}},
        "concurrency": 1,
    }
    result, record = run_map(config, {"list": list(range(6))}, limits=runner.Limits(timeout=1.5))
    assert result.status == "failed" and result.error["code"] == "timeout"
    assert len(calls) <= 2  # not six: no item starts once the run is over
    assert record.status in ("failed", "cancelled")


def test_an_inner_template_that_computes_runs_in_a_sandbox_and_is_bounded():
    pool = SandboxPool(1, Bounds(memory_bytes=256 * 2**20, step_timeout=1, max_chars=200_000, max_output_bytes=2**20))
    try:
        config = {"items": "{{ in.list }}", "node": step("{% for i in range(10**9) %}{% endfor %}{{ item }}")}
        _, record = run_map(config, {"list": [1]}, isolation=pool)
        assert record.status == "failed" and record.error["code"] == "resource_limit"
        _, fine = run_map({**config, "node": step("{{ [item] * 2 }}")}, {"list": [1, 2]}, isolation=pool)
        assert fine.output["values"] == [{"value": [1, 1]}, {"value": [2, 2]}]
    finally:
        pool.close()


def test_the_inner_node_is_validated_where_it_is_written():
    definition = mapping(
        {
            "items": "{{ in.list }}",
            "node": {
                "type": "ai_model",
                "id": "x",
                "config": {"prompt": "{{ ghost.text }} {{ item }}", "temperature": 9},
            },
            "concurrency": 0,
        }
    )
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition, EXPRESSIONS)
    found = {(p.path, p.code) for p in caught.value.problems}
    assert found == {
        ("nodes[1].config.node.id", "invalid_value"),
        ("nodes[1].config.node.config.temperature", "invalid_value"),
        ("nodes[1].config.node.config.prompt", "bad_reference"),
        ("nodes[1].config.concurrency", "invalid_value"),
    }


@pytest.mark.parametrize("inner", [{"type": "output", "config": {"template": "x"}}, {"type": "map"}, "step", None])
def test_only_four_types_may_be_mapped(inner):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(mapping({"items": "{{ in.list }}", "node": inner}), EXPRESSIONS)
    assert any(p.path.startswith("nodes[1].config.node") for p in caught.value.problems)


@pytest.mark.parametrize("fields", [5, [{"name": ["urls"], "type": "array"}], [7]])
def test_items_named_in_an_input_whose_fields_are_malformed_are_a_problem_not_a_crash(fields):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(mapping({"items": "{{ in.urls }}", "node": step("{{ item }}")}, fields), EXPRESSIONS)
    assert all(problem.path.startswith("nodes[0].config.fields") for problem in caught.value.problems)
