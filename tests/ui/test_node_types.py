"""A node type is described once, on its class: a type registered in the engine alone
shows up in validation, the editor's form, the graph's labels and colours, and the
OpenAPI document, and runs, with no other change."""

from __future__ import annotations

import re

import pytest

from tests.ui.conftest import create_workflow
from tests.ui.test_editor import replace
from webapp.engine.nodes import NodeOutcome, NodeType, register, unregister
from webapp.engine.options import Choice, Option


class ProbeNode(NodeType):
    type_name = "probe"
    label = "Probe"
    summary = "Repeats a word (a node type known only to this test)."
    colour = "#123456"
    options = (
        Option(key="word", kind="template_line", label="Word to repeat", required=True),
        Option(key="times", kind="integer", label="How many times", minimum=1, maximum=7, default=2),
        Option(
            key="joiner",
            kind="choice",
            label="Joined by",
            default="space",
            choices=(Choice(value="space", label="Spaces"), Choice(value="dash", label="Dashes")),
        ),
        Option(key="shout", kind="boolean", label="Upper-case it", default=False, advanced=True),
    )
    outputs = ("value",)
    starter = {"word": ""}
    starter_id = "probe"

    def run(self, ctx):
        word = str(self.evaluate(self.word, ctx))
        text = {"space": " ", "dash": "-"}[self.joiner].join([word] * self.times)
        return NodeOutcome(output={"value": text.upper() if self.shout else text})


@pytest.fixture
def probe():
    register(ProbeNode)
    yield ProbeNode
    unregister(ProbeNode.type_name)


def probe_workflow(config: dict) -> dict:
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "w", "type": "string"}]}},
            {"id": "p", "type": "probe", "config": config},
            {"id": "out", "type": "output", "config": {"fields": {"said": "{{ p.value }}"}}},
        ],
        "connections": [{"from": "in", "to": "p"}, {"from": "p", "to": "out"}],
    }


def test_a_node_type_registered_in_the_engine_is_validated_by_its_declaration(api, probe):
    body = {"name": "Probe", "nodes": None, "connections": None}
    bad = probe_workflow({"word": "", "times": 9, "joiner": "comma", "volume": 3})
    refused = api.post("/workflows", json={**body, **bad})
    assert refused.status_code == 422
    problems = {d["path"]: d["message"] for d in refused.json["error"]["details"]}
    assert problems == {
        "nodes[1].config.word": "'word' must not be empty",
        "nodes[1].config.times": "'times' must be between 1 and 7",
        "nodes[1].config.joiner": "'joiner' must be one of space, dash, not 'comma'",
        "nodes[1].config.volume": "unknown option 'volume'",
    }
    made = api.post("/workflows", json={**body, **probe_workflow({"word": "{{ in.w }}", "joiner": "dash"})})
    assert made.status_code == 201
    run = api.post(f"/workflows/{made.json['id']}/execute", json={"inputs": {"w": "hey"}})
    assert run.json["status"] == "completed" and run.json["outputs"] == {"said": "hey-hey"}


def test_a_node_type_registered_in_the_engine_is_in_the_openapi_document(client, probe):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    assert {"$ref": "#/components/schemas/ProbeNode"} in schemas["Node"]["oneOf"]
    assert schemas["Node"]["discriminator"]["mapping"]["probe"] == "#/components/schemas/ProbeNode"
    config = schemas["ProbeNode"]["properties"]["config"]
    assert config["required"] == ["word"]
    times = config["properties"]["times"]
    assert times["type"] == ["integer", "null"] and (times["minimum"], times["maximum"], times["default"]) == (1, 7, 2)
    assert config["properties"]["joiner"]["enum"] == ["space", "dash", None]
    assert config["properties"]["word"]["title"] == "Word to repeat"


def test_a_node_type_registered_in_the_engine_gets_its_form_label_and_colour(app, page, probe):
    workflow_id = create_workflow(app, page.user, probe_workflow({"word": "{{ in.w }}", "times": 3}))
    html = page.get(f"/workflows/{workflow_id}").text
    assert 'name="nodes[1].config.word"' in html and "Word to repeat" in html
    assert 'name="nodes[1].config.times"' in html and 'min="1"' in html and 'max="7"' in html
    assert '<option value="dash">Dashes</option>' in html
    assert 'name="nodes[1].config.shout"' in html  # under Advanced
    assert ">PROBE<" in html  # the graph's label for it
    assert '<option value="probe">Probe</option>' in html  # "+ Add node" offers it
    styles = page.get("/node-types.css").text
    assert ".t-probe { --tone: #123456;" in styles
    pairs = replace(page.form(f"/workflows/{workflow_id}", "editor-form"), "new_node_type", "probe")
    added = page.post(f"/workflows/{workflow_id}/editor", [*pairs, ("action", "add_node")], htmx=True).text
    assert re.search(r'name="nodes\[3\]\.id"[^>]*value="probe"', added)  # its starter id
    assert 'name="nodes[3].config.word"' in added


def test_the_ui_and_the_api_read_node_types_only_through_the_catalogue():
    """They import the engine's public modules, never its node classes or parser."""
    import ast
    from pathlib import Path

    public = {"node_types", "errors", "status", "jsontext"}
    seen = set()
    for area in ("ui", "api"):
        for path in (Path(__file__).parents[2] / "webapp" / area).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("engine"):
                    names = [node.module.split(".")[1]] if "." in node.module else [a.name for a in node.names]
                    seen |= {(path.name, name) for name in names}
    assert seen and {name for _, name in seen} <= public, sorted(seen)
