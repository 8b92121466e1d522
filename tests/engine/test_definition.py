"""Definition validation: every rule fails with the right path and code, all at once."""

from __future__ import annotations

import pytest

from tests.definitions import echo_definition, spec_example
from webapp.engine.definition import Size, parse_definition
from webapp.engine.errors import DefinitionError
from webapp.engine.expressions import Expressions

EXPRESSIONS = Expressions()


def problems_of(definition) -> set[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition, EXPRESSIONS)
    return {(p.path, p.code) for p in caught.value.problems}


def messages_of(definition) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition, EXPRESSIONS)
    return [p.message for p in caught.value.problems]


def test_the_spec_example_is_valid_and_ordered():
    graph = parse_definition(spec_example(), EXPRESSIONS)
    assert graph.order == ["in", "draft", "long", "short", "out"]
    assert [e.target for e in graph.outgoing["long"]] == ["short", "out"]


def test_not_an_object():
    assert problems_of([]) == {("", "invalid_value")}


def test_nodes_missing_or_not_a_list():
    assert ("nodes", "missing_field") in problems_of({"connections": []})
    assert ("nodes", "invalid_value") in problems_of({"nodes": {}, "connections": []})


def test_node_id_rules():
    definition = echo_definition()
    definition["nodes"][1]["id"] = "1bad"
    definition["nodes"].append({"id": "in", "type": "processing", "config": {"operation": "strip", "input": "x"}})
    definition["nodes"].append({"id": "If", "type": "processing", "config": {"operation": "strip", "input": "x"}})
    definition["nodes"].append({"type": "processing", "config": {"operation": "strip", "input": "x"}})
    found = problems_of(definition)
    assert ("nodes[1].id", "invalid_value") in found
    assert ("nodes[3].id", "duplicate_id") in found
    assert ("nodes[4].id", "invalid_value") in found  # a Jinja2 word, in any case
    assert ("nodes[5].id", "missing_field") in found


@pytest.mark.parametrize("word", ["and", "or", "not", "if", "else", "is", "true", "false", "none", "TRUE", "None"])
def test_reserved_words_cannot_be_ids(word):
    definition = echo_definition()
    definition["nodes"][1]["id"] = word
    assert ("nodes[1].id", "invalid_value") in problems_of(definition)


def test_unknown_node_type_names_the_type():
    definition = echo_definition()
    definition["nodes"][1]["type"] = "teleport"
    assert ("nodes[1].type", "unknown_node_type") in problems_of(definition)
    assert any("teleport" in m for m in messages_of(definition))


def test_each_type_checks_its_config():
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "x", "type": "colour"}, {"type": "string"}]}},
            {"id": "gen", "type": "ai_model", "config": {"temperature": 3, "response_format": "xml", "retries": -1}},
            {"id": "p", "type": "processing", "config": {"operation": "truncate", "input": "{{ in.x }}"}},
            {"id": "q", "type": "processing", "config": {"operation": "regex_extract", "input": "x", "pattern": "("}},
            {"id": "c", "type": "conditional", "config": {}},
            {"id": "out", "type": "output", "config": {"fields": {"a": "x"}, "template": "y"}},
        ],
        "connections": [],
    }
    found = problems_of(definition)
    assert {
        ("nodes[0].config.fields[0].type", "invalid_value"),
        ("nodes[0].config.fields[1].name", "missing_field"),
        ("nodes[1].config.prompt", "missing_field"),
        ("nodes[1].config.temperature", "invalid_value"),
        ("nodes[1].config.response_format", "invalid_value"),
        ("nodes[1].config.retries", "invalid_value"),
        ("nodes[2].config.length", "missing_field"),
        ("nodes[3].config.pattern", "syntax_error"),
        ("nodes[4].config.condition", "missing_field"),
        ("nodes[5].config", "invalid_value"),
    } <= found


def test_unknown_options_are_reported_so_typos_surface():
    definition = echo_definition()
    definition["nodes"][1]["config"]["inptu"] = "{{ in.text }}"
    assert ("nodes[1].config.inptu", "invalid_value") in problems_of(definition)


def test_every_processing_operation_but_template_and_merge_needs_input():
    definition = echo_definition()
    del definition["nodes"][1]["config"]["input"]
    assert ("nodes[1].config.input", "missing_field") in problems_of(definition)


def test_input_field_declarations_are_checked():
    definition = echo_definition()
    definition["nodes"][0]["config"]["fields"] = [
        {"name": "a", "type": "number", "max_length": 3},
        {"name": "b", "type": "string", "enum": ["x", 2]},
        {"name": "c", "type": "integer", "default": 1.5},
        {"name": "d", "type": "string"},
        {"name": "d", "type": "string"},
        {"name": "e", "type": "string", "max_length": 3, "example": "too long"},
    ]
    definition["nodes"][1]["config"]["input"] = "{{ in.d }}"
    found = problems_of(definition)
    assert {
        ("nodes[0].config.fields[0].max_length", "invalid_value"),
        ("nodes[0].config.fields[1].enum", "invalid_value"),
        ("nodes[0].config.fields[2].default", "invalid_value"),
        ("nodes[0].config.fields[4].name", "duplicate_id"),
        ("nodes[0].config.fields[5].example", "invalid_value"),
    } <= found


def test_connections_to_unknown_nodes():
    definition = echo_definition()
    definition["connections"].append({"from": "ghost", "to": "out"})
    definition["connections"].append({"from": "in"})
    found = problems_of(definition)
    assert ("connections[2].from", "unknown_node") in found
    assert ("connections[3].to", "missing_field") in found
    assert any("ghost" in m for m in messages_of(definition))


def test_cycles_are_refused_and_named():
    definition = echo_definition()
    definition["nodes"].insert(2, {"id": "again", "type": "processing", "config": {"operation": "strip", "input": "x"}})
    definition["connections"] += [{"from": "shout", "to": "again"}, {"from": "again", "to": "shout"}]
    assert ("connections", "cycle") in problems_of(definition)
    assert any("shout → again → shout" in m or "again → shout → again" in m for m in messages_of(definition))


def test_a_self_loop_is_a_cycle():
    definition = echo_definition()
    definition["connections"].append({"from": "shout", "to": "shout"})
    assert ("connections[2]", "cycle") in problems_of(definition)


def test_at_most_one_input_and_at_least_one_output():
    definition = echo_definition()
    definition["nodes"].append({"id": "in2", "type": "input", "config": {"fields": []}})
    definition["nodes"] = [n for n in definition["nodes"] if n["type"] != "output"]
    definition["connections"] = [c for c in definition["connections"] if c["to"] != "out"]
    found = problems_of(definition)
    assert ("nodes[2].type", "invalid_value") in found
    assert ("nodes", "missing_field") in found


def test_branch_labels_only_where_they_mean_something():
    definition = spec_example()
    definition["connections"].append({"from": "draft", "to": "out", "branch": "true"})
    definition["connections"].append({"from": "short", "to": "out", "branch": "error"})
    definition["connections"].append({"from": "in", "to": "out", "branch": "maybe"})
    found = problems_of(definition)
    assert ("connections[5].branch", "bad_branch") in found
    assert ("connections[6].branch", "bad_branch") in found
    assert ("connections[7].branch", "invalid_value") in found


def test_error_branch_allowed_with_on_error_branch():
    definition = spec_example()
    definition["nodes"][1]["on_error"] = "branch"
    definition["nodes"].append({"id": "fallback", "type": "output", "config": {"template": "sorry"}})
    definition["connections"].append({"from": "draft", "to": "fallback", "branch": "error"})
    parse_definition(definition, EXPRESSIONS)


def test_template_syntax_errors_point_at_the_field():
    definition = spec_example()
    definition["nodes"][1]["config"]["prompt"] = "Describe {{ in.product "
    definition["nodes"][2]["config"]["condition"] = "draft.text |"
    found = problems_of(definition)
    assert ("nodes[1].config.prompt", "syntax_error") in found
    assert ("nodes[2].config.condition", "syntax_error") in found


def test_references_must_be_upstream():
    definition = spec_example()
    definition["nodes"][1]["config"]["prompt"] = "Describe {{ gen2.text }} after {{ short.value }}"
    definition["nodes"][4]["config"]["fields"]["extra"] = "{{ out.value }}"
    found = messages_of(definition)
    assert "references unknown node 'gen2'" in found
    assert "references node 'short', which is not upstream of 'draft'" in found
    assert "node 'out' cannot refer to itself" in found


def test_several_problems_are_all_listed():
    definition = spec_example()
    definition["nodes"][0]["id"] = "if"
    definition["nodes"][1]["config"]["prompt"] = "{{ nope.text }}"
    definition["nodes"][3]["config"]["length"] = "long"
    definition["connections"].append({"from": "out", "to": "ghost"})
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition, EXPRESSIONS)
    paths = [p.path for p in caught.value.problems]
    assert {"nodes[0].id", "nodes[1].config.prompt", "nodes[3].config.length", "connections[5].to"} <= set(paths)
    assert len(paths) >= 4


def test_node_count_limit():
    definition = echo_definition()
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition, EXPRESSIONS, size=Size(max_nodes=2))
    assert caught.value.problems[0].path == "nodes" and "at most 2" in caught.value.problems[0].message


def test_connection_and_expression_limits_are_checked_before_anything_is_compiled():
    definition = echo_definition()
    definition["connections"] = definition["connections"] * 3
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition, EXPRESSIONS, size=Size(max_connections=5))
    assert (
        caught.value.problems[0].path == "connections" and "at most 5 connections" in caught.value.problems[0].message
    )
    definition = echo_definition()
    definition["nodes"][1]["config"]["input"] = "{{ in.text }}" * 6 + "{% if 1 %}{% endif %}"
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition, EXPRESSIONS, size=Size(max_expressions=7))
    assert "hold 9 expressions" in caught.value.problems[0].message and "at most 7" in caught.value.problems[0].message


def test_duplicate_connections_are_found_among_many():
    definition = echo_definition()
    definition["connections"].append(dict(definition["connections"][0]))
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition, EXPRESSIONS)
    assert [p.path for p in caught.value.problems] == ["connections[2]"]
