"""The ``agent`` node's definition: its tools are read and checked as the definition is
(every problem with its path), and a tool's arguments against its parameters."""

from __future__ import annotations

from tests.engine.test_definition import EXPRESSIONS, problems_of
from tests.ui.test_editor import agent_definition
from webapp.engine.definition import parse_definition
from webapp.engine.nodes.input import InputField
from webapp.engine.tools import MAX_TOOLS, check_arguments, fields_of, schema_of


def with_tools(tools, **config) -> dict:
    definition = agent_definition()
    definition["nodes"][1]["config"] = {"prompt": "Go", "tools": tools, **config}
    return definition


def test_an_agent_with_a_workflow_tool_and_an_http_tool_is_valid():
    graph = parse_definition(agent_definition(), EXPRESSIONS)
    agent = graph.nodes["agent"].impl
    assert [t.name for t in agent.declared] == ["search", "summarise"]
    assert agent.max_steps == 8 and "args" not in agent.needs and "in" in agent.needs


def test_each_bad_tool_is_reported_at_its_path():
    http = {"url": "https://example.com/{{ args.q }}"}
    tools = [
        {"name": "has space", "workflow_id": "wf_1"},
        {"name": "both", "workflow_id": "wf_1", "http": http},
        {"name": "neither"},
        {"name": "wf", "workflow_id": "wf_1", "parameters": {"type": "object"}},
        {"name": "bad_params", "parameters": {"type": "object", "properties": {"q": {"type": "date"}}}, "http": http},
        {"name": "bad_http", "http": {"url": "ftp://nowhere"}},
        {"name": "dup", "workflow_id": "wf_1"},
        {"name": "dup", "workflow_id": "wf_2"},
        {"name": "odd", "workflow_id": "wf_1", "colour": "red"},
        {"name": "ref", "http": {"url": "https://example.com/{{ nowhere.x }}"}},
        "not a tool",
    ]
    found = problems_of(with_tools(tools))
    base = "nodes[1].config.tools"
    for expected in [
        (f"{base}[0].name", "invalid_value"),
        (f"{base}[1]", "invalid_value"),
        (f"{base}[2]", "invalid_value"),
        (f"{base}[3].parameters", "invalid_value"),
        (f"{base}[4].parameters.properties.q", "invalid_value"),
        (f"{base}[5].http.url", "invalid_value"),
        (f"{base}[7].name", "duplicate_id"),
        (f"{base}[8].colour", "invalid_value"),
        (f"{base}[10]", "invalid_value"),
    ]:
        assert expected in found, (expected, found)
    assert any(path.startswith(f"{base}[9].http.url") for path, _ in found)  # an unknown upstream node


def test_max_steps_and_the_tool_count_are_bounded():
    assert ("nodes[1].config.max_steps", "invalid_value") in problems_of(with_tools([], max_steps=21))
    many = [{"name": f"t{i}", "workflow_id": "wf_1"} for i in range(MAX_TOOLS + 1)]
    assert ("nodes[1].config.tools", "invalid_value") in problems_of(with_tools(many))


def test_parameters_round_trip_between_json_schema_and_input_fields():
    schema = {
        "type": "object",
        "properties": {
            "q": {"type": "string", "description": "query", "maxLength": 20},
            "n": {"type": "integer", "enum": [1, 2, 3]},
        },
        "required": ["q"],
    }
    fields, problems = fields_of(schema)
    assert problems == [] and schema_of(fields) == schema
    assert check_arguments(fields, '{"q": "tea", "n": 2.0}') == ({"q": "tea", "n": 2}, None)
    assert check_arguments(fields, '{"n": 4}')[1] == "'q' is required; 'n' must be one of 1, 2, 3"
    assert check_arguments(fields, '{"q": "' + "x" * 21 + '"}')[1] == "'q' is longer than 20 characters"
    assert check_arguments(fields, "[1]")[1] == "the arguments must be a JSON object"
    assert check_arguments([InputField("text", required=True)], "")[1] == "'text' is required"


def test_the_runs_deadline_ends_a_tool_call_in_flight(model, api_server):
    from tests.engine.conftest import make_gateway
    from webapp.engine import runner
    from webapp.engine.nodes.base import Limits
    from webapp.outbound import Destinations, HttpClient

    definition = with_tools(
        # a trickled answer (not /slow: the server stops trickling once the client hangs up)
        [
            {
                "name": "slow",
                "http": {"url": api_server.url("/drip"), "query": {"every": "0.5", "n": "200", "head": "1"}},
            }
        ],
        prompt="[[call=slow {}]]",
    )
    graph = parse_definition(definition, EXPRESSIONS)
    http = HttpClient(Destinations.parse("127.0.0.1"), 1 << 20)
    result = runner.run(graph, {}, models=make_gateway(model.base_url), http=http, limits=Limits(timeout=1.5))
    assert result.status == "failed" and result.error["code"] == "timeout"
    assert model.call_count == 1  # the model was not asked again after the deadline
