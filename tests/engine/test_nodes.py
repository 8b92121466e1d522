"""Each node type and every processing operation, run through the real runner."""

from __future__ import annotations

import pytest

from webapp.engine import runner
from webapp.engine.definition import parse_definition
from webapp.engine.errors import InputError
from webapp.engine.expressions import Expressions
from webapp.engine.nodes.processing import sanitize

EXPRESSIONS = Expressions()


def run_one(node: dict, inputs: dict | None = None, fields=None):
    """input → the node → output of its value; returns (result, the node's record)."""
    fields = fields or [{"name": "v", "type": "string"}]
    exits = [{"branch": "true"}, {"branch": "false"}] if node["type"] == "conditional" else [{}]
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": fields}},
            {"id": "n", **node},
            {"id": "out", "type": "output", "config": {"template": "{{ n }}"}},
        ],
        "connections": [{"from": "in", "to": "n"}, *({"from": "n", "to": "out", **e} for e in exits)],
    }
    result = runner.run(parse_definition(definition, EXPRESSIONS), inputs or {})
    return result, result.records["n"]


def process(operation: str, value, **options):
    _, record = run_one(
        {"type": "processing", "config": {"operation": operation, "input": "{{ in.v }}", **options}},
        {"v": value},
        [{"name": "v", "type": "array" if isinstance(value, list) else "string"}],
    )
    assert record.status == "completed", record.error
    return record.output["value"]


# -- input ---------------------------------------------------------------------------------


def input_graph(fields):
    return parse_definition(
        {
            "nodes": [
                {"id": "in", "type": "input", "config": {"fields": fields}},
                {"id": "out", "type": "output", "config": {"template": "{{ in }}"}},
            ],
            "connections": [{"from": "in", "to": "out"}],
        },
        EXPRESSIONS,
    )


def input_problems(fields, inputs) -> dict[str, str]:
    with pytest.raises(InputError) as caught:
        input_graph(fields).validate_inputs(inputs)
    return {p.path: p.code for p in caught.value.problems}


def test_inputs_are_strict_json_types():
    fields = [
        {"name": n, "type": t}
        for n, t in (
            ("s", "string"),
            ("n", "number"),
            ("i", "integer"),
            ("b", "boolean"),
            ("o", "object"),
            ("a", "array"),
        )
    ]
    ok = input_graph(fields).validate_inputs({"s": "x", "n": 2, "i": 3.0, "b": False, "o": {}, "a": []})
    assert ok == {"s": "x", "n": 2, "i": 3, "b": False, "o": {}, "a": []}
    assert isinstance(ok["i"], int)
    wrong = input_problems(fields, {"s": 1, "n": "2", "i": 2.5, "b": "true", "o": [], "a": {}})
    assert wrong == {f"inputs.{n}": "invalid_value" for n in "snibao"}
    assert input_problems([{"name": "n", "type": "number"}], {"n": True}) == {"inputs.n": "invalid_value"}


def test_required_default_max_length_enum_and_unknown_names():
    fields = [
        {"name": "topic", "type": "string", "required": True, "max_length": 5},
        {"name": "tone", "type": "string", "enum": ["formal", "casual"], "default": "casual"},
        {"name": "note", "type": "string"},
    ]
    assert input_graph(fields).validate_inputs({"topic": "cats"}) == {"topic": "cats", "tone": "casual", "note": None}
    assert input_problems(fields, {}) == {"inputs.topic": "missing_field"}
    assert input_problems(fields, {"topic": "toolong"}) == {"inputs.topic": "invalid_value"}
    assert input_problems(fields, {"topic": "x", "tone": "rude"}) == {"inputs.tone": "invalid_value"}
    assert input_problems(fields, {"topic": "x", "colour": "red"}) == {"inputs.colour": "unknown_field"}


def test_a_workflow_without_input_node_refuses_inputs():
    graph = parse_definition({"nodes": [{"id": "out", "type": "output", "config": {"template": "hi"}}]}, EXPRESSIONS)
    assert graph.validate_inputs({}) == {}
    with pytest.raises(InputError):
        graph.validate_inputs({"x": 1})


# -- processing ------------------------------------------------------------------------------


def test_template_and_merge_build_values():
    _, record = run_one(
        {"type": "processing", "config": {"operation": "template", "template": "<{{ in.v }}>"}}, {"v": "a"}
    )
    assert record.output == {"value": "<a>"}
    _, record = run_one(
        {
            "type": "processing",
            "config": {"operation": "merge", "values": {"raw": "{{ in.v }}", "shout": "{{ in.v | upper }}!"}},
        },
        {"v": "a"},
    )
    assert record.output == {"value": {"raw": "a", "shout": "A!"}}


def test_json_parse_accepts_fenced_json_and_refuses_garbage():
    assert process("json_parse", '```json\n{"a": [1, 2]}\n```') == {"a": [1, 2]}
    assert process("json_parse", " [1, 2] ") == [1, 2]
    _, record = run_one(
        {"type": "processing", "config": {"operation": "json_parse", "input": "{{ in.v }}"}}, {"v": "not json"}
    )
    assert record.status == "failed" and record.error["code"] == "invalid_json"


def test_extract_follows_a_dotted_path():
    document = '{"a": {"b": [{"c": 5}]}}'
    assert process("extract", document, path="a.b.0.c") == 5
    assert process("extract", document, path="a.b.-1") == {"c": 5}
    assert process("extract", document, path="a.missing.c") is None


def test_regex_extract():
    assert process("regex_extract", "order #1234 shipped", pattern=r"#(\d+)", group=1) == "1234"
    assert process("regex_extract", "order #1234", pattern=r"#(?P<id>\d+)", group="id") == "1234"
    assert process("regex_extract", "no number", pattern=r"\d+") is None


def test_split_join_truncate_case_strip_word_count():
    assert process("split", "a,b,c", separator=",") == ["a", "b", "c"]
    assert process("split", "a\nb") == ["a", "b"]
    assert process("join", ["a", "b"], separator=" + ") == "a + b"
    assert process("truncate", "abcdef", length=3) == "abc"
    assert process("lowercase", "MiXeD") == "mixed"
    assert process("uppercase", "MiXeD") == "MIXED"
    assert process("strip", "  padded \n") == "padded"
    assert process("word_count", " one two\tthree\nfour ") == 4


def test_join_needs_a_list():
    _, record = run_one({"type": "processing", "config": {"operation": "join", "input": "{{ in.v }}"}}, {"v": "x"})
    assert record.status == "failed" and "list" in record.error["message"]


def test_sanitize_strips_hostile_html_and_control_characters():
    hostile = (
        '<p>Hello <b>there</b></p><script>alert("x")</script><style>p{}</style>'
        '<img src=x onerror="alert(1)">\x00\x07caf\u00e9 &amp; <a href="javascript:alert(1)">link</a>'
        "\u202e\t\n\n   end"
    )
    assert sanitize(hostile) == "Hello there café & link end"
    assert process("sanitize", "<i>" + "x" * 50 + "</i>", max_length=10) == "x" * 10


# -- conditional and output -------------------------------------------------------------------


def test_conditional_outputs_its_result():
    _, record = run_one({"type": "conditional", "config": {"condition": "in.v | length > 2"}}, {"v": "long"})
    assert record.output == {"result": True}
    _, record = run_one({"type": "conditional", "config": {"condition": "in.v == 'x'"}}, {"v": "y"})
    assert record.output == {"result": False}


def test_output_fields_and_template_formats():
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "v", "type": "string"}]}},
            {
                "id": "fields",
                "type": "output",
                "config": {"fields": {"echo": "{{ in.v }}", "n": "{{ in.v | length }}"}},
            },
            {"id": "doc", "type": "output", "config": {"template": "# {{ in.v }}", "format": "markdown"}},
            {"id": "data", "type": "output", "config": {"template": '{"v": "{{ in.v }}"}', "format": "json"}},
        ],
        "connections": [{"from": "in", "to": "fields"}, {"from": "in", "to": "doc"}, {"from": "in", "to": "data"}],
    }
    result = runner.run(parse_definition(definition, EXPRESSIONS), {"v": "hey"})
    assert result.status == "completed"
    assert result.outputs == {"echo": "hey", "n": 3, "doc": "# hey", "data": {"v": "hey"}}


def test_output_json_format_refuses_invalid_json():
    _, record = run_one({"type": "output", "config": {"template": "{ {{ in.v }}", "format": "json"}}, {"v": "x"})
    assert record.status == "failed" and record.error["code"] == "invalid_json"


def test_results_that_json_cannot_hold_fail_the_node():
    _, record = run_one(
        {"type": "processing", "config": {"operation": "template", "template": "{{ in.v | float }}"}}, {"v": "nan"}
    )
    assert record.status == "failed" and record.error["code"] == "expression_error"
    _, record = run_one(
        {"type": "processing", "config": {"operation": "extract", "input": "{{ in.v }}", "path": "a"}},
        {"v": '{"a": NaN}'},
    )
    assert record.status == "failed" and record.error["code"] == "invalid_output"
