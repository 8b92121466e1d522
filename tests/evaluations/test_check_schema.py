"""The check kinds as request bodies: what each accepts, and the problem (path, code) of
what it refuses."""

from __future__ import annotations

import pytest

from webapp.errors import ValidationFailed
from webapp.evaluations.json_schemas import patterns_in
from webapp.evaluations.kinds import CheckKind
from webapp.schemas.base import json_schemas, parse
from webapp.schemas.checks import (
    CHECK_MODELS,
    CRITERIA_MAX,
    KINDS,
    MAX_CHECKS_PER_CASE,
    MODEL_OF_KIND,
    OUTPUT_NAME_MAX,
    SCHEMA_MAX_BYTES,
    TEXT_MAX,
    VALUE_MAX_BYTES,
    Check,
    Checks,
    stored,
)

VALID = [
    {"output": "answer", "kind": "equals", "value": "Paris"},
    {"output": "answer", "kind": "equals", "value": None},
    {"output": "answer", "kind": "equals", "value": {"city": "Paris", "tags": [1, 2.5, True]}},
    {"output": "answer", "kind": "contains", "value": "Paris"},
    {"output": "answer", "kind": "not_contains", "value": "I cannot"},
    {"output": "answer", "kind": "matches", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
    {"output": "answer", "kind": "json_schema", "schema": {"type": "object", "required": ["city"]}},
    {
        "output": "answer",
        "kind": "json_schema",
        "schema": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "string", "pattern": "^[A-Z]"},
    },
    {"output": "score", "kind": "between", "min": 0, "max": 10},
    {"output": "score", "kind": "between", "min": 0.5},
    {"output": "score", "kind": "between", "max": -1},
    {"output": "score", "kind": "between", "min": 3, "max": 3},
    {"output": "answer", "kind": "max_length", "value": 280},
    {"output": "answer", "kind": "max_length", "value": 0},
    {"output": "answer", "kind": "judge", "criteria": "Names the capital of France."},
    {"output": "answer", "kind": "judge", "criteria": "Polite.", "model": "local-llama", "provider": "ollama"},
    {"output": "a" * OUTPUT_NAME_MAX, "kind": "contains", "value": "x" * TEXT_MAX},
]


@pytest.mark.parametrize("body", VALID, ids=lambda body: body["kind"])
def test_each_kind_accepts_its_fields_and_is_stored_as_sent(body):
    assert stored(parse(Check, body)) == body


def test_a_whole_number_length_sent_as_a_float_is_the_integer():
    assert stored(parse(Check, {"output": "a", "kind": "max_length", "value": 3.0}))["value"] == 3


def problems(kind, body) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as refused:
        parse(kind, body)
    return [(problem.path, problem.code) for problem in refused.value.details]


INVALID = [
    ({"kind": "equals", "value": 1}, [("output", "missing_field")]),
    ({"output": "", "kind": "equals", "value": 1}, [("output", "invalid_value")]),
    ({"output": "a" * (OUTPUT_NAME_MAX + 1), "kind": "equals", "value": 1}, [("output", "invalid_value")]),
    ({"output": 3, "kind": "equals", "value": 1}, [("output", "invalid_value")]),
    ({"output": "a", "value": 1}, [("kind", "missing_field")]),
    ({"output": "a", "kind": "similar", "value": 1}, [("kind", "invalid_value")]),
    ({"output": "a", "kind": "equals"}, [("value", "missing_field")]),
    ({"output": "a", "kind": "equals", "value": "x" * VALUE_MAX_BYTES}, [("value", "invalid_value")]),
    ({"output": "a", "kind": "equals", "value": 1, "pattern": "x"}, [("pattern", "unknown_field")]),
    ({"output": "a", "kind": "contains", "value": 3}, [("value", "invalid_value")]),
    ({"output": "a", "kind": "contains", "value": ""}, [("value", "invalid_value")]),
    ({"output": "a", "kind": "not_contains", "value": "x" * (TEXT_MAX + 1)}, [("value", "invalid_value")]),
    ({"output": "a", "kind": "matches"}, [("pattern", "missing_field")]),
    ({"output": "a", "kind": "matches", "pattern": "(a"}, [("pattern", "invalid_value")]),
    ({"output": "a", "kind": "matches", "pattern": "(?:a{1000}){1000}"}, [("pattern", "invalid_value")]),
    ({"output": "a", "kind": "matches", "pattern": "a{5000}"}, [("pattern", "invalid_value")]),
    ({"output": "a", "kind": "matches", "pattern": "a" * 1001}, [("pattern", "invalid_value")]),
    ({"output": "a", "kind": "json_schema", "schema": ["type", "object"]}, [("schema", "invalid_value")]),
    ({"output": "a", "kind": "json_schema", "schema": {"type": "nope"}}, [("schema", "invalid_value")]),
    ({"output": "a", "kind": "json_schema", "schema": {"minLength": -1}}, [("schema", "invalid_value")]),
    ({"output": "a", "kind": "json_schema", "schema": {"$schema": "urn:nope"}}, [("schema", "invalid_value")]),
    ({"output": "a", "kind": "json_schema", "schema": {"$schema": ["x"]}}, [("schema", "invalid_value")]),
    (
        {"output": "a", "kind": "json_schema", "schema": {"properties": {"p": {"pattern": "(?:a{1000}){1000}"}}}},
        [("schema", "invalid_value")],
    ),
    (
        {"output": "a", "kind": "json_schema", "schema": {"patternProperties": {"(?:(?:a{100}){100}){100}": {}}}},
        [("schema", "invalid_value")],
    ),
    (
        {"output": "a", "kind": "json_schema", "schema": {"enum": ["x" * SCHEMA_MAX_BYTES]}},
        [("schema", "invalid_value")],
    ),
    (
        {"output": "a", "kind": "json_schema", "schema_": {"type": "object"}},
        [
            ("schema", "missing_field"),
            ("schema_", "unknown_field"),
        ],
    ),
    ({"output": "a", "kind": "between"}, [("", "invalid_value")]),
    ({"output": "a", "kind": "between", "min": 3, "max": 1}, [("", "invalid_value")]),
    ({"output": "a", "kind": "between", "min": "3"}, [("min", "invalid_value")]),
    ({"output": "a", "kind": "between", "min": None, "max": 1}, [("min", "invalid_value")]),
    ({"output": "a", "kind": "between", "max": True}, [("max", "invalid_value")]),
    ({"output": "a", "kind": "between", "max": float("inf")}, [("max", "invalid_value")]),
    ({"output": "a", "kind": "max_length", "value": -1}, [("value", "invalid_value")]),
    ({"output": "a", "kind": "max_length", "value": 2.5}, [("value", "invalid_value")]),
    ({"output": "a", "kind": "max_length", "value": "3"}, [("value", "invalid_value")]),
    ({"output": "a", "kind": "judge"}, [("criteria", "missing_field")]),
    ({"output": "a", "kind": "judge", "criteria": "   "}, [("criteria", "invalid_value")]),
    ({"output": "a", "kind": "judge", "criteria": "x" * (CRITERIA_MAX + 1)}, [("criteria", "invalid_value")]),
    ({"output": "a", "kind": "judge", "criteria": "ok", "model": ""}, [("model", "invalid_value")]),
    ({"output": "a", "kind": "judge", "criteria": "ok", "provider": 7}, [("provider", "invalid_value")]),
]


@pytest.mark.parametrize(("body", "expected"), INVALID)
def test_each_kind_refuses_what_is_out_of_its_bounds_with_the_path(body, expected):
    assert problems(Check, body) == expected


def test_a_problem_message_says_why():
    with pytest.raises(ValidationFailed) as refused:
        parse(Check, {"output": "a", "kind": "matches", "pattern": "(?:a{1000}){1000}"})
    assert "invalid regular expression" in refused.value.details[0].message
    with pytest.raises(ValidationFailed) as refused:
        parse(Check, {"output": "a", "kind": "between", "min": 3, "max": 1})
    assert "'min' (3) is more than 'max' (1)" in refused.value.details[0].message


def test_a_list_of_checks_is_bounded_and_each_problem_has_its_index():
    one = {"output": "a", "kind": "contains", "value": "x"}
    assert len(parse(Checks, [one] * MAX_CHECKS_PER_CASE)) == MAX_CHECKS_PER_CASE
    assert problems(Checks, [one] * (MAX_CHECKS_PER_CASE + 1)) == [("", "invalid_value")]
    assert problems(Checks, [one, {"output": "a", "kind": "matches", "pattern": "(a"}]) == [
        ("[1].pattern", "invalid_value")
    ]


def test_every_kind_has_one_model_a_label_and_a_line_of_help():
    assert list(KINDS) == [kind.value for kind in CheckKind]
    assert set(MODEL_OF_KIND) == set(KINDS) and len(CHECK_MODELS) == len(KINDS)
    for label, help_text in KINDS.values():
        assert label and help_text and "\n" not in help_text


def test_the_document_shows_each_kind_with_its_fields_described():
    _, components = json_schemas([(Checks, "validation")])
    assert components["JsonSchemaCheck"]["required"] == ["output", "kind", "schema"]
    assert components["BetweenCheck"]["anyOf"] == [{"required": ["min"]}, {"required": ["max"]}]
    for model in CHECK_MODELS:
        schema = components[model.__name__]
        assert schema["additionalProperties"] is False and schema["description"]
        for name, field in schema["properties"].items():
            assert name == "kind" or field.get("description"), f"{model.__name__}.{name} has no description"


def test_the_patterns_of_a_schema_are_found_where_schemas_stand_only():
    schema = {
        "pattern": "^a",
        "properties": {"pattern": {"pattern": "^b"}, "const": {"type": "string"}},
        "patternProperties": {"^c": {"pattern": "^d"}},
        "items": [{"pattern": "^e"}],
        "const": {"pattern": "not a schema"},
        "enum": [{"pattern": "nor this"}],
    }
    assert sorted(patterns_in(schema)) == ["^a", "^b", "^c", "^d", "^e"]
