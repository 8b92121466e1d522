"""The runner: branch, skip and join rules, error handling, parallelism, reuse, stops."""

from __future__ import annotations

import itertools
import time

from tests.definitions import fan_out_definition, spec_example
from webapp.engine import runner
from webapp.engine.definition import parse_definition
from webapp.engine.expressions import Expressions
from webapp.engine.runner import Limits, NodeRecord, Observer, Stop

EXPRESSIONS = Expressions()


def graph(nodes, connections):
    return parse_definition({"nodes": nodes, "connections": connections}, EXPRESSIONS)


def text(node_id, template, **extra):
    return {"id": node_id, "type": "processing", "config": {"operation": "template", "template": template}, **extra}


def statuses(result):
    return {node_id: record.status for node_id, record in result.records.items()}


class Recording(Observer):
    def __init__(self, stop_after=None):
        self.events, self.stop_after = [], stop_after

    def node_started(self, node_id, at):
        self.events.append(("started", node_id))

    def node_settled(self, record):
        self.events.append((record.status, record.node_id))

    def should_stop(self):
        settled = sum(1 for kind, _ in self.events if kind != "started")
        if self.stop_after is not None and settled >= self.stop_after:
            return Stop("cancelled", "stop requested", status="cancelled")
        return None


def if_else(condition: str):
    nodes = [
        {"id": "in", "type": "input", "config": {"fields": [{"name": "n", "type": "integer"}]}},
        {"id": "check", "type": "conditional", "config": {"condition": condition}},
        text("big", "big {{ in.n }}"),
        text("small", "small {{ in.n }}"),
        text("after_big", "{{ big.value }}!"),
        {
            "id": "out",
            "type": "output",
            "config": {"fields": {"said": "{{ after_big.value if after_big else small.value }}"}},
        },
    ]
    connections = [
        {"from": "in", "to": "check"},
        {"from": "check", "to": "big", "branch": "true"},
        {"from": "check", "to": "small", "branch": "false"},
        {"from": "big", "to": "after_big"},
        {"from": "after_big", "to": "out"},
        {"from": "small", "to": "out"},
    ]
    return graph(nodes, connections)


def test_if_else_takes_one_side_and_the_join_runs_once():
    g = if_else("in.n > 10")
    high = runner.run(g, {"n": 50})
    assert high.status == "completed" and high.outputs == {"said": "big 50!"}
    assert statuses(high) == {
        "in": "completed",
        "check": "completed",
        "big": "completed",
        "small": "skipped",
        "after_big": "completed",
        "out": "completed",
    }
    low = runner.run(g, {"n": 1})
    assert low.outputs == {"said": "small 1"}
    # the untaken branch is skipped with its own descendants
    assert statuses(low)["big"] == "skipped" and statuses(low)["after_big"] == "skipped"


def test_nested_conditionals():
    nodes = [
        {"id": "in", "type": "input", "config": {"fields": [{"name": "n", "type": "integer"}]}},
        {"id": "positive", "type": "conditional", "config": {"condition": "in.n > 0"}},
        {"id": "large", "type": "conditional", "config": {"condition": "in.n > 100"}},
        text("huge", "huge"),
        text("modest", "modest"),
        text("negative", "negative"),
        {
            "id": "out",
            "type": "output",
            "config": {
                "fields": {"kind": "{{ huge.value if huge else (modest.value if modest else negative.value) }}"}
            },
        },
    ]
    connections = [
        {"from": "in", "to": "positive"},
        {"from": "positive", "to": "large", "branch": "true"},
        {"from": "positive", "to": "negative", "branch": "false"},
        {"from": "large", "to": "huge", "branch": "true"},
        {"from": "large", "to": "modest", "branch": "false"},
        {"from": "huge", "to": "out"},
        {"from": "modest", "to": "out"},
        {"from": "negative", "to": "out"},
    ]
    g = graph(nodes, connections)
    assert runner.run(g, {"n": 500}).outputs == {"kind": "huge"}
    assert runner.run(g, {"n": 5}).outputs == {"kind": "modest"}
    negative = runner.run(g, {"n": -5})
    assert negative.outputs == {"kind": "negative"}
    assert statuses(negative)["large"] == "skipped" and statuses(negative)["huge"] == "skipped"


def test_a_node_fed_only_by_skipped_nodes_is_skipped():
    nodes = [
        {"id": "in", "type": "input", "config": {"fields": []}},
        {"id": "never", "type": "conditional", "config": {"condition": "false"}},
        text("a", "a"),
        text("b", "{{ a.value }}b"),
        {"id": "out", "type": "output", "config": {"template": "{{ b.value if b else 'none' }}"}},
    ]
    connections = [
        {"from": "in", "to": "never"},
        {"from": "never", "to": "a", "branch": "true"},
        {"from": "a", "to": "b"},
        {"from": "b", "to": "out"},
        {"from": "never", "to": "out", "branch": "false"},
    ]
    result = runner.run(graph(nodes, connections), {})
    assert statuses(result)["b"] == "skipped" and result.outputs == {"out": "none"}


def failing(node_id, on_error):
    return {
        "id": node_id,
        "type": "processing",
        "on_error": on_error,
        "config": {"operation": "json_parse", "input": "not json"},
    }


def test_on_error_fail_fails_the_execution_and_cancels_the_rest():
    nodes = [
        {"id": "in", "type": "input", "config": {"fields": []}},
        failing("bad", "fail"),
        text("later", "x"),
        {"id": "out", "type": "output", "config": {"template": "{{ later.value }}"}},
    ]
    result = runner.run(
        graph(nodes, [{"from": "in", "to": "bad"}, {"from": "bad", "to": "later"}, {"from": "later", "to": "out"}]), {}
    )
    assert result.status == "failed"
    assert result.error["code"] == "node_failed" and result.error["node_id"] == "bad"
    assert "bad" in result.error["message"]
    assert statuses(result) == {"in": "completed", "bad": "failed", "later": "cancelled", "out": "cancelled"}


def test_on_error_continue_passes_null_downstream():
    nodes = [
        {"id": "in", "type": "input", "config": {"fields": []}},
        failing("bad", "continue"),
        {"id": "out", "type": "output", "config": {"fields": {"got": "{{ bad.value if bad else 'fallback' }}"}}},
    ]
    result = runner.run(graph(nodes, [{"from": "in", "to": "bad"}, {"from": "bad", "to": "out"}]), {})
    assert result.status == "completed" and result.outputs == {"got": "fallback"}
    assert result.records["bad"].status == "failed" and result.records["bad"].error["code"] == "invalid_json"


def test_on_error_branch_takes_only_the_error_side_on_failure():
    def build(on_error_node):
        nodes = [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "doc", "type": "string"}]}},
            {
                "id": "parse",
                "type": "processing",
                "on_error": "branch",
                "config": {"operation": "json_parse", "input": "{{ in.doc }}"},
            },
            text("happy", "parsed {{ parse.value.a }}"),
            text("sad", "could not parse"),
            {"id": "out", "type": "output", "config": {"template": "{{ happy.value if happy else sad.value }}"}},
        ]
        return graph(
            nodes,
            [
                {"from": "in", "to": "parse"},
                {"from": "parse", "to": "happy"},
                {"from": "parse", "to": "sad", "branch": "error"},
                {"from": "happy", "to": "out"},
                {"from": "sad", "to": "out"},
            ],
        )

    g = build("parse")
    ok = runner.run(g, {"doc": '{"a": 1}'})
    assert ok.outputs == {"out": "parsed 1"} and statuses(ok)["sad"] == "skipped"
    broken = runner.run(g, {"doc": "{oops"})
    assert broken.status == "completed" and broken.outputs == {"out": "could not parse"}
    assert statuses(broken)["parse"] == "failed" and statuses(broken)["happy"] == "skipped"


def test_independent_model_calls_run_in_parallel(model, gateway):
    g = parse_definition(fan_out_definition(4, " [[latency=0.3]]"), EXPRESSIONS)
    result = runner.run(g, {"topic": "tea"}, models=gateway, limits=Limits(max_parallel=4))
    assert result.status == "completed"
    calls = [result.records[f"m{i}"] for i in range(4)]
    latest_start = max(r.started_at for r in calls)
    earliest_finish = min(r.finished_at for r in calls)
    assert latest_start < earliest_finish, "every call was in flight at the same moment"
    assert model.call_count == 4


def test_parallelism_is_bounded_by_the_limit(model, gateway):
    g = parse_definition(fan_out_definition(4, " [[latency=0.2]]"), EXPRESSIONS)
    result = runner.run(g, {"topic": "tea"}, models=gateway, limits=Limits(max_parallel=1))
    calls = sorted((result.records[f"m{i}"] for i in range(4)), key=lambda r: r.started_at)
    for before, after in itertools.pairwise(calls):
        assert before.finished_at <= after.started_at + 0.01, "with one slot, calls do not overlap"


def test_observer_sees_every_node_start_and_settle_in_order():
    observer = Recording()
    runner.run(if_else("in.n > 10"), {"n": 50}, observer)
    assert observer.events[:4] == [("started", "in"), ("completed", "in"), ("started", "check"), ("completed", "check")]
    assert ("skipped", "small") in observer.events and ("started", "small") not in observer.events


def test_a_stop_request_ends_the_run_at_the_next_node_boundary():
    observer = Recording(stop_after=2)
    result = runner.run(if_else("in.n > 10"), {"n": 50}, observer)
    assert result.status == "cancelled" and result.error["code"] == "cancelled"
    assert statuses(result)["in"] == "completed" and statuses(result)["check"] == "completed"
    assert {statuses(result)[n] for n in ("big", "after_big", "out")} == {"cancelled"}


def test_a_stop_abandons_in_flight_model_calls(model, gateway):
    class StopSoon(Observer):
        def __init__(self):
            self.started = None

        def node_started(self, node_id, at):
            self.started = self.started or time.monotonic()

        def should_stop(self):
            if self.started and time.monotonic() - self.started > 0.2:
                return Stop("cancelled", "stop", status="cancelled")
            return None

    g = parse_definition(fan_out_definition(2, " [[latency=5]]"), EXPRESSIONS)
    began = time.monotonic()
    result = runner.run(g, {"topic": "x"}, StopSoon(), models=gateway)
    assert result.status == "cancelled"
    assert time.monotonic() - began < 3, "the runner did not wait for the 5 s calls"
    assert statuses(result)["m0"] == "cancelled"


def test_the_execution_timeout_fails_the_run(model, gateway):
    g = parse_definition(fan_out_definition(1, " [[latency=5]]"), EXPRESSIONS)
    result = runner.run(g, {"topic": "x"}, models=gateway, limits=Limits(timeout=0.3))
    assert result.status == "failed" and result.error["code"] == "timeout"


def test_prior_completed_nodes_are_reused_not_run(model, gateway):
    g = parse_definition(spec_example(), EXPRESSIONS)
    first = runner.run(g, {"product": "tea"}, models=gateway)
    assert model.call_count == 1
    prior = {"in": first.records["in"], "draft": first.records["draft"]}
    observer = Recording()
    again = runner.run(g, {"product": "tea"}, observer, models=gateway, prior=prior)
    assert again.outputs == first.outputs
    assert model.call_count == 1, "the reused model node made no call"
    assert ("started", "draft") not in observer.events


def test_prior_conditional_keeps_its_branch():
    g = if_else("in.n > 10")
    prior = {
        "check": NodeRecord("check", "conditional", "completed", output={"result": False}),
        "in": NodeRecord("in", "input", "completed", output={"n": 50}),
    }
    result = runner.run(g, {"n": 50}, prior=prior)
    assert result.outputs == {"said": "small 50"}


def test_output_size_is_capped():
    nodes = [
        {"id": "in", "type": "input", "config": {"fields": [{"name": "v", "type": "string"}]}},
        text("copy", "{{ in.v }}{{ in.v }}"),
        {"id": "out", "type": "output", "config": {"template": "x"}},
    ]
    result = runner.run(
        graph(nodes, [{"from": "in", "to": "copy"}, {"from": "copy", "to": "out"}]),
        {"v": "y" * 600},
        limits=Limits(max_output_bytes=1000),
    )
    assert result.status == "failed" and result.records["copy"].error["code"] == "resource_limit"
