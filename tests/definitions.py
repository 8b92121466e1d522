"""Workflow definitions the tests build on."""

from __future__ import annotations

import copy

from webapp.schemas.workflows import EXAMPLE_DEFINITION

# docs/api.md, "Workflows": exactly the fields of a list item.
SUMMARY_FIELDS = {
    "id",
    "name",
    "description",
    "category",
    "public",
    "created_by",
    "created_at",
    "updated_at",
    "usage_count",
    "rating",
}


def template_file() -> dict:
    """A catalogue file (``catalogue/<slug>.json``) of the echo workflow."""
    return {
        "name": "Shouter",
        "description": "Says it louder",
        "category": "writing",
        "how_to_use": "Give it text.",
        "example_inputs": {"text": "hello"},
        **echo_definition(),
    }


def echo_definition() -> dict:
    """input → processing (template) → output: no model call."""
    return {
        "nodes": [
            {
                "id": "in",
                "type": "input",
                "config": {"fields": [{"name": "text", "type": "string", "required": True, "max_length": 500}]},
            },
            {"id": "shout", "type": "processing", "config": {"operation": "uppercase", "input": "{{ in.text }}"}},
            {"id": "out", "type": "output", "config": {"fields": {"result": "{{ shout.value }}"}}},
        ],
        "connections": [{"from": "in", "to": "shout"}, {"from": "shout", "to": "out"}],
    }


def spec_example() -> dict:
    """The definition docs/api.md shows: a model call, a length check, a truncating branch."""
    return copy.deepcopy(EXAMPLE_DEFINITION)


def model_definition(prompt: str = "{{ in.text }}", **config) -> dict:
    """input → one ai_model → output of its text."""
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string", "required": True}]}},
            {"id": "gen", "type": "ai_model", "config": {"model": "gpt-4o-mini", "prompt": prompt, **config}},
            {"id": "out", "type": "output", "config": {"fields": {"answer": "{{ gen.text }}"}}},
        ],
        "connections": [{"from": "in", "to": "gen"}, {"from": "gen", "to": "out"}],
    }


def fan_out_definition(width: int, prompt_suffix: str = "") -> dict:
    """input → ``width`` independent model calls → one output joining them."""
    nodes = [{"id": "in", "type": "input", "config": {"fields": [{"name": "topic", "type": "string"}]}}]
    connections = []
    for i in range(width):
        nodes.append(
            {
                "id": f"m{i}",
                "type": "ai_model",
                "config": {"model": "gpt-4o-mini", "prompt": f"part {i} of {{{{ in.topic }}}}{prompt_suffix}"},
            }
        )
        connections += [{"from": "in", "to": f"m{i}"}, {"from": f"m{i}", "to": "out"}]
    fields = {f"p{i}": f"{{{{ m{i}.text }}}}" for i in range(width)}
    nodes.append({"id": "out", "type": "output", "config": {"fields": fields}})
    return {"nodes": nodes, "connections": connections}


def workflow_body(name: str = "My workflow", definition: dict | None = None, **fields) -> dict:
    return {"name": name, **(definition or echo_definition()), **fields}
