"""One bound for every value that crosses a boundary of a run, whatever the node type.

Built from the node catalogue (``node_types.py``): every template field of every node
type, each variant's and each inner node's of a ``map`` too, is fed an oversized value,
made two ways: computed by the template in a sandbox process, and looked up from an
upstream value without one. The node must fail with ``resource_limit``, and nothing
larger than the bound may be stored in any record or sent to any gateway. A node type
added later is in this test without anyone writing a line for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from webapp.engine import runner
from webapp.engine.bounds import json_size
from webapp.engine.definition import parse_definition
from webapp.engine.expressions import Expressions
from webapp.engine.http_calls import HttpAnswer
from webapp.engine.isolation import Bounds, SandboxPool
from webapp.engine.model_calls import ModelReply, Usage
from webapp.engine.node_types import Option, all_types, describe
from webapp.engine.runner import Limits
from webapp.engine.status import NodeStatus
from webapp.engine.workflow_calls import ChildRun

LIMIT = 64 * 1024  # MAX_NODE_OUTPUT_BYTES, small here so the test is quick
CHILD_LIMIT = 16 * 1024  # MAX_INPUT_BYTES
EXPRESSIONS = Expressions(200_000)
# ~100 KB, made by the template itself: a node that computes runs it in its sandbox process.
COMPUTED = "range(100)|map('string')|map('center', 1000)|list"
# 80 KB of text from a 40 KB upstream value: only looks values up, so no sandbox process.
LOOKED_UP = "{{ up.value }}{{ up.value }}"
UPSTREAM = {"id": "up", "type": "processing", "config": {"operation": "template", "template": "{{ 'y' * 40000 }}"}}
TEMPLATE_KINDS = ("template", "template_line", "templates")
VALUE_KINDS = (*TEMPLATE_KINDS, "expression")
# What a required option holds when the test only needs the node to validate.
PLAIN = {
    "template": "{{ 'x' }}",
    "template_line": "{{ 'x' }}",
    "expression": "true",
    "templates": {"a": "x"},
    "text": "x",
    "code": "x",
    "fields": [],
}
SPECIFIC = {("map", "items"): "{{ [1] }}"}  # one item, so the inner node runs once
# Text where a list or JSON is due (a map's items, join, json_parse): refused for its shape
# before its size, which is as good: it goes no further.
SHAPE_CODES = {"invalid_value", "invalid_json"}


@dataclass(frozen=True)
class Field:
    """One value field of a node type: ``path`` is (key,) or ("node", inner type, key)."""

    type_name: str
    variant: str | None
    path: tuple[str, ...]
    kind: str
    inner_variant: str | None = None

    def __str__(self) -> str:
        where = ".".join(p for p in (self.type_name, self.variant, *self.path[:-1], self.inner_variant) if p)
        return f"{where}.{self.path[-1]}"


def variants_of(info) -> tuple[str | None, ...]:
    return info.variants.values if info.variants else (None,)


def catalogue_fields() -> list[Field]:
    found = []
    for info in all_types():
        for variant in variants_of(info):
            for option in info.options_for(variant):
                if option.kind in VALUE_KINDS:
                    found.append(Field(info.name, variant, (option.key,), option.kind))
                elif option.kind == "node":
                    for inner in option.choices:
                        inner_info = describe(inner.value)
                        for inner_variant in variants_of(inner_info):
                            for inner_option in inner_info.options_for(inner_variant):
                                if inner_option.kind in VALUE_KINDS:
                                    path = ("node", inner.value, inner_option.key)
                                    found.append(Field(info.name, variant, path, inner_option.kind, inner_variant))
    return found


FIELDS = catalogue_fields()


def plain_config(info, variant: str | None) -> dict:
    config = {info.variants.key: variant} if info.variants and info.variants.stored else {}
    for option in info.options_for(variant):
        if option.required:
            config[option.key] = SPECIFIC.get((info.name, option.key), plain_value(option, info.name))
    return config


def plain_value(option: Option, type_name: str):
    if option.kind == "node":
        return {"type": "processing", "config": {"operation": "template", "template": "x"}}
    if option.kind in ("integer", "number"):
        return option.minimum if option.minimum is not None else 1
    if option.kind == "choice":
        return option.values[0]
    return PLAIN[option.kind]


def oversized(kind: str, construct: str):
    if kind == "expression":
        return COMPUTED if construct == "computed" else "up.value and up.value"
    text = "{{ " + COMPUTED + " }}" if construct == "computed" else LOOKED_UP
    return {"a": text} if kind == "templates" else text


def definition_for(target: Field, construct: str) -> dict:
    info = describe(target.type_name)
    config = plain_config(info, target.variant)
    value = oversized(target.kind, construct)
    if target.path[0] == "node":
        inner_info = describe(target.path[1])
        inner_config = plain_config(inner_info, target.inner_variant) | {target.path[2]: value}
        config["node"] = {"type": target.path[1], "config": inner_config}
    else:
        config[target.path[0]] = value
    nodes = [
        {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
        UPSTREAM,
        {"id": "node", "type": target.type_name, "config": config},
    ]
    connections = [{"from": "in", "to": "up"}, {"from": "up", "to": "node"}]
    if target.type_name != "output":
        nodes.append({"id": "out", "type": "output", "config": {"template": "{{ 'done' }}"}})
        exits = [{"branch": branch} for branch in info.branches] or [{}]
        connections += [{"from": "node", "to": "out", **exit} for exit in exits]
    return {"nodes": nodes, "connections": connections}


# -- gateways that keep what they were sent ---------------------------------------------------


@dataclass
class Sent:
    payloads: list = field(default_factory=list)

    def complete(self, request, **_) -> ModelReply:
        self.payloads.append(request.messages)
        return ModelReply(text="ok", model="m", usage=Usage(1, 1, 2))

    def send(self, request, **_) -> HttpAnswer:
        self.payloads.append(request)
        return HttpAnswer(status=200, headers={}, text="ok", json=None, duration_ms=1.0)

    def run(self, workflow_id, inputs, **_) -> ChildRun:
        self.payloads.append(inputs)
        return ChildRun("exec_child", "completed", {"ok": True}, None, Usage(0, 0, 0), 0.0)


@pytest.fixture(scope="module")
def pool():
    sandboxes = SandboxPool(
        2, Bounds(memory_bytes=256 * 2**20, step_timeout=30, max_chars=200_000, max_output_bytes=LIMIT)
    )
    yield sandboxes
    sandboxes.close()


def run(definition: dict, pool, sent: Sent):
    graph = parse_definition(definition, EXPRESSIONS)
    limits = Limits(max_output_bytes=LIMIT, max_input_bytes=CHILD_LIMIT)
    return runner.run(graph, {"text": "x"}, models=sent, http=sent, workflows=sent, limits=limits, isolation=pool)


def assert_nothing_oversized_kept_or_sent(result, sent: Sent) -> None:
    for record in result.records.values():
        for name in ("input", "output", "error"):
            assert json_size(getattr(record, name)) <= LIMIT, f"{record.node_id}.{name} kept over the bound"
    assert json_size(result.outputs) <= LIMIT and json_size(result.error) <= LIMIT
    assert all(json_size(payload) <= LIMIT for payload in sent.payloads)


# -- the tests ----------------------------------------------------------------------------------


def test_the_catalogue_has_value_fields_in_every_type_that_takes_templates():
    typed = {f.type_name for f in FIELDS} | {f.path[1] for f in FIELDS if f.path[0] == "node"}
    with_templates = {info.name for info in all_types() if any(o.kind in VALUE_KINDS for o in info.options)}
    assert with_templates <= typed and len(FIELDS) > 30


@pytest.mark.parametrize("construct", ["computed", "looked_up"])
@pytest.mark.parametrize("target", FIELDS, ids=str)
def test_every_value_field_of_every_node_type_is_held_to_the_bound(pool, target, construct):
    sent = Sent()
    result = run(definition_for(target, construct), pool, sent)
    record = result.records["node"]
    assert_nothing_oversized_kept_or_sent(result, sent)
    if target.kind not in TEMPLATE_KINDS:
        return  # a condition's value is a bool: nothing to carry, only to compute (bounded above)
    assert record.status == NodeStatus.FAILED, f"{target} took an oversized value: {record.output!r:.200}"
    if construct == "looked_up" and record.error["code"] in SHAPE_CODES:
        assert (
            "text" in record.error["message"] or "str" in record.error["message"] or "JSON" in record.error["message"]
        )
        return
    assert record.error["code"] == "resource_limit", record.error
    assert result.error["code"] == "resource_limit"


def test_a_child_workflows_inputs_are_held_to_the_input_bound(pool):
    """40 KB: within a node's bound, past a child's (MAX_INPUT_BYTES): the child never starts."""
    target = Field("workflow", None, ("inputs",), "templates")
    definition = definition_for(target, "computed")
    definition["nodes"][2]["config"]["inputs"] = {"a": "{{ up.value }}"}
    sent = Sent()
    result = run(definition, pool, sent)
    assert result.records["node"].error["code"] == "resource_limit"
    assert "child's inputs" in result.records["node"].error["message"] and sent.payloads == []


def test_the_outputs_of_several_output_nodes_are_held_to_the_bound_together(pool):
    nodes = [
        {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
        UPSTREAM,
        *({"id": f"out{i}", "type": "output", "config": {"fields": {f"f{i}": "{{ up.value }}"}}} for i in range(3)),
    ]
    connections = [{"from": "in", "to": "up"}, *({"from": "up", "to": f"out{i}"} for i in range(3))]
    result = run({"nodes": nodes, "connections": connections}, pool, Sent())
    assert result.status == "failed" and result.error["code"] == "resource_limit"
    assert "outputs" in result.error["message"]
    assert_nothing_oversized_kept_or_sent(result, Sent())


def test_values_within_the_bound_pass_every_boundary(pool):
    sent = Sent()
    definition = definition_for(Field("ai_model", None, ("prompt",), "template"), "computed")
    definition["nodes"][2]["config"]["prompt"] = "{{ up.value }}"  # 40 KB: within the bound
    result = run(definition, pool, sent)
    assert result.status == "completed", result.error
    assert len(sent.payloads) == 1 and json_size(sent.payloads[0]) > 40_000


ALWAYS_ISOLATED = {("processing", "regex_extract")}  # a pattern is code: matched in a sandbox whatever its input


@pytest.mark.parametrize("target", FIELDS, ids=str)
def test_a_field_that_only_looks_values_up_keeps_its_node_out_of_the_sandbox(target):
    """No sandbox round trip for a template that only refers to values: it cannot compute
    its way past the bounds, and what it gives is measured in the worker like the rest."""
    definition = definition_for(target, "looked_up")
    graph = parse_definition(definition, EXPRESSIONS)
    impl = graph.nodes["node"].impl
    if target.path[0] == "node":
        impl, variant = impl.inner.impl, (target.path[1], target.inner_variant)
    else:
        variant = (target.type_name, target.variant)
    assert impl.isolated is (variant in ALWAYS_ISOLATED)
