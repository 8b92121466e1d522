"""Hypothesis against the definition validator: it refuses bad documents with a
DefinitionError only (every problem located and coded), and every well-formed graph
of processing nodes between an input and an output validates and runs to the end.

Bounded and reproducible: a fixed number of examples, derandomised, no deadline.
"""

from __future__ import annotations

import copy
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.definitions import echo_definition, fan_out_definition, spec_example
from webapp.engine.definition import BRANCHES, ON_ERROR, Graph, parse_definition
from webapp.engine.errors import DefinitionError
from webapp.engine.expressions import Expressions
from webapp.engine.nodes import type_names
from webapp.engine.runner import run
from webapp.engine.status import NodeStatus, RunStatus

EXPRESSIONS = Expressions(max_chars=10_000)
# The detail codes of docs/api.md, "Errors", plus the one the engine documents for unknown input names.
KNOWN_CODES = {
    "duplicate_id",
    "unknown_node_type",
    "unknown_node",
    "cycle",
    "bad_branch",
    "bad_reference",
    "syntax_error",
    "missing_field",
    "invalid_value",
    "unknown_field",
}
# A path starts at the document's top: "", nodes…, connections… (keys after that are the user's own).
PATH = re.compile(r"^(|(nodes|connections)(\[\d+\])?(\..*)?)$", re.DOTALL)
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

# -- strategies: JSON-ish documents -----------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

IDS = ["in", "a", "b", "out", "x_1", "_", "A" * 64, "A" * 65, "1a", "", "a-b", "a b", "and", "None", "IF", "é"]
TEMPLATE_BITS = [
    "{{ in.text }}",
    "{{ a.value }}",
    "{{ b.text }}",
    "{{ out.value }}",
    "{{ nowhere.x }}",
    "{{",
    "}}",
    "{% for x in in.text %}{{ x }}{% endfor %}",
    "{% if a %}y{% endif %}",
    "{% endif %}",
    "a.result and not b",
    "in.text | length > 2",
    "{{ a.value if a else b.text }}",
    "plain",
    "",
    "{{ a.__class__ }}",
    "{% set z = 1 %}{{ z }}",
    "{# comment #}",
    "\\d+",
    "(",
    "a{99999999999}",
    "(?P<name>x)",
    "((a+)+)+$",
    "{{ 1 / 0 }}",
    "{{ [1, 2] }}",
    "{{ x }}",
]
OPTION_NAMES = [
    "fields",
    "model",
    "prompt",
    "system",
    "temperature",
    "max_tokens",
    "response_format",
    "cache",
    "timeout",
    "retries",
    "operation",
    "input",
    "template",
    "values",
    "path",
    "pattern",
    "group",
    "separator",
    "length",
    "max_length",
    "condition",
    "format",
    "colour",
]
templates = st.lists(st.sampled_from(TEMPLATE_BITS), min_size=1, max_size=3).map("".join)
node_ids = st.sampled_from(IDS) | json_values
field_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["text", "n", "1x", "", "a b"]) | json_values,
        "type": st.sampled_from(["string", "number", "integer", "boolean", "object", "array", "date"]) | json_values,
        "required": st.booleans() | json_values,
        "default": json_values,
        "description": json_values,
        "max_length": st.integers(-2, 5) | json_values,
        "enum": st.lists(json_values, max_size=3) | json_values,
        "label": json_values,
        "unit": json_values,
    },
)
option_values = (
    templates
    | json_values
    | st.sampled_from(["truncate", "split", "merge", "template", "json", "text"])
    | st.lists(field_like, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", " "]), templates)
)
configs = st.dictionaries(st.sampled_from(OPTION_NAMES), option_values, max_size=6) | json_values
node_like = st.fixed_dictionaries(
    {},
    optional={
        "id": node_ids,
        "type": st.sampled_from([*type_names(), "teleport"]) | json_values,
        "config": configs,
        "name": json_values,
        "on_error": st.sampled_from([*ON_ERROR, "retry"]) | json_values,
        "extra": json_values,
    },
)
connection_like = st.fixed_dictionaries(
    {},
    optional={
        "from": node_ids,
        "to": node_ids,
        "branch": st.sampled_from([*BRANCHES, "maybe"]) | json_values,
        "via": json_values,
    },
)
definition_like = st.fixed_dictionaries(
    {},
    optional={
        "nodes": st.lists(node_like | json_values, max_size=6) | json_values,
        "connections": st.lists(connection_like | json_values, max_size=8) | json_values,
        "version": json_values,
    },
)


def check_problems(document) -> Graph | None:
    """Parse; the only failure allowed is a DefinitionError whose problems are all well formed."""
    try:
        return parse_definition(document, EXPRESSIONS)
    except DefinitionError as exc:
        assert exc.problems, "a DefinitionError lists at least one problem"
        for problem in exc.problems:
            assert isinstance(problem.path, str) and PATH.match(problem.path), problem
            assert problem.code in KNOWN_CODES, problem
            assert isinstance(problem.message, str) and problem.message.strip(), problem
            for index in re.findall(r"^nodes\[(\d+)\]", problem.path):
                assert int(index) < len(document["nodes"]), problem
            for index in re.findall(r"^connections\[(\d+)\]", problem.path):
                assert int(index) < len(document["connections"]), problem
        return None


@FUZZ
@given(json_values)
def test_any_json_value_is_refused_cleanly(document):
    assert check_problems(document) is None


@FUZZ
@given(definition_like)
def test_definition_shaped_documents_never_raise_anything_else(document):
    graph = check_problems(document)
    if graph is not None:  # rare, but then it must be a consistent graph
        assert set(graph.order) == set(graph.nodes)
        assert any(node.type == "output" for node in graph.nodes.values())


# -- mutations of valid definitions ------------------------------------------------------------


def _locations(value, path=()):
    """Every (container, key) in a JSON document, for picking one to mutate."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield value, key
        yield from _locations(item, (*path, key))


@st.composite
def mutated_definitions(draw):
    document = copy.deepcopy(draw(st.sampled_from([spec_example(), echo_definition(), fan_out_definition(3)])))
    for _ in range(draw(st.integers(1, 4))):
        locations = list(_locations(document))
        container, key = draw(st.sampled_from(locations))
        action = draw(st.sampled_from(["replace", "delete", "template", "duplicate", "id"]))
        if action == "delete":
            del container[key]
        elif action == "template":
            container[key] = draw(templates)
        elif action == "duplicate" and isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
        elif action == "id":
            container[key] = draw(st.sampled_from(IDS))
        else:
            container[key] = draw(json_values)
    return document


@FUZZ
@given(mutated_definitions())
def test_mutated_valid_definitions_never_raise_anything_else(document):
    check_problems(document)


# -- valid graphs run to completion --------------------------------------------------------------

OPERATIONS = [
    "uppercase",
    "lowercase",
    "strip",
    "word_count",
    "sanitize",
    "truncate",
    "split",
    "join",
    "template",
    "merge",
    "extract",
    "regex_extract",
    "json_parse",
]


def _operation_config(operation: str, source: str, draw) -> dict:
    value = "in.text" if source == "in" else f"{source}.value"
    ref = f"{{{{ {value} }}}}"
    if operation == "template":
        return {"operation": operation, "template": f"[{ref}]"}
    if operation == "merge":
        return {"operation": operation, "values": {"seen": ref, "two": "{{ 1 + 1 }}"}}
    config = {"operation": operation, "input": ref}
    if operation == "truncate":
        config["length"] = draw(st.integers(0, 40))
    elif operation in ("split", "join"):
        config["separator"] = draw(st.sampled_from([" ", ",", "", "\n"]))
        if operation == "join":
            config["input"] = f"{{{{ {value} | string | list }}}}"  # a list whatever the value was
    elif operation == "extract":
        config["path"] = draw(st.sampled_from(["k", "k.0", "a.b"]))
        config["input"] = f"{{{{ {{'k': {value}}} | tojson }}}}"
    elif operation == "regex_extract":
        config["pattern"] = draw(st.sampled_from([r"\w+", r"(\d)", "x*"]))
    elif operation == "json_parse":
        config["input"] = f"{{{{ {{'k': {value}}} | tojson }}}}"
    return config


@st.composite
def processing_graphs(draw):
    """input → a random DAG of processing nodes → output, nodes and connections in random order."""
    text_field = {"name": "text", "type": "string", "required": True}
    nodes = [{"id": "in", "type": "input", "config": {"fields": [text_field]}}]
    connections, ids, used = [], ["in"], set()
    for index in range(draw(st.integers(1, 8))):
        node_id = f"p{index}"
        parents = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True))
        config = _operation_config(draw(st.sampled_from(OPERATIONS)), draw(st.sampled_from(parents)), draw)
        nodes.append({"id": node_id, "type": "processing", "config": config})
        connections += [{"from": parent, "to": node_id} for parent in parents]
        used |= set(parents)
        ids.append(node_id)
    sinks = [node_id for node_id in ids[1:] if node_id not in used]
    extra = draw(st.lists(st.sampled_from(ids[1:]), max_size=2, unique=True))
    feeding = sinks + [node_id for node_id in extra if node_id not in sinks]
    nodes.append(
        {
            "id": "out",
            "type": "output",
            "config": {"fields": {f"from_{node_id}": f"{{{{ {node_id}.value }}}}" for node_id in feeding}},
        }
    )
    connections += [{"from": node_id, "to": "out"} for node_id in feeding]
    return {"nodes": draw(st.permutations(nodes)), "connections": draw(st.permutations(connections))}


@FUZZ
@given(processing_graphs(), st.text(max_size=40))
def test_generated_processing_graphs_validate_and_run_to_completion(definition, text):
    graph = parse_definition(definition, EXPRESSIONS)
    result = run(graph, graph.validate_inputs({"text": text}))
    assert result.status == RunStatus.COMPLETED, result.error
    assert set(result.records) == {node["id"] for node in definition["nodes"]}
    assert all(record.status == NodeStatus.COMPLETED for record in result.records.values())
    fields = next(n for n in definition["nodes"] if n["id"] == "out")["config"]["fields"]
    assert set(result.outputs) == set(fields)
    json.dumps(result.outputs, allow_nan=False)


# -- found by fuzzing, kept as regressions ---------------------------------------------------------


@pytest.mark.parametrize("where", ["node id", "input field name"])
def test_a_trailing_newline_is_not_part_of_a_valid_name(where):
    """Python's ``$`` also matches before a final newline: ``"in\\n"`` must not pass as a
    node id (nor ``"text\\n"`` as an input name), or it could never be referred to."""
    definition = echo_definition()
    if where == "node id":
        definition["nodes"].append(
            {"id": "spare\n", "type": "processing", "config": {"operation": "strip", "input": "x"}}
        )
        definition["connections"].append({"from": "spare\n", "to": "out"})
    else:
        definition["nodes"][0]["config"]["fields"].append({"name": "extra\n", "type": "string"})
    with pytest.raises(DefinitionError):
        parse_definition(definition, EXPRESSIONS)
