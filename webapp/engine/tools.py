"""An agent's tools: their parameters as JSON Schema, and arguments checked against them.

A tool's parameters are the fields of an input node, as a model sees them: a workflow
tool's come from its workflow's input node, and an HTTP tool declares them as JSON Schema,
read here into the same ``InputField`` declarations. So one check (``InputNode``'s) says
whether arguments fit, whichever kind of tool it is, and the schema a model is shown is
always one this check understands: a flat object whose properties have a ``type`` and may
have a ``description``, an ``enum`` and a ``maxLength`` (strings) or ``maxItems`` (arrays).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .nodes.input import FIELD_NAME, FIELD_TYPES, InputField, InputNode, _typed

TOOL_NAME = r"^[A-Za-z0-9_-]{1,64}$"  # what OpenAI's tool calling accepts
MAX_TOOLS = 32  # tools of one agent
MAX_PARAMETERS = 64  # parameters of one tool
_PROPERTY_KEYS = {"type", "description", "enum", "maxLength", "maxItems"}


def schema_of(fields: list[InputField]) -> dict:
    """Input fields as a tool's JSON-Schema parameters."""
    properties: dict[str, dict] = {}
    for declared in fields:
        schema: dict[str, Any] = {"type": declared.type}
        if declared.description:
            schema["description"] = declared.description
        if declared.enum is not None:
            schema["enum"] = list(declared.enum)
        if declared.max_length is not None:
            schema["maxLength" if declared.type == "string" else "maxItems"] = declared.max_length
        properties[declared.name] = schema
    required = [f.name for f in fields if f.required and f.default is None]
    return {"type": "object", "properties": properties, "required": required}


def fields_of(schema: Any) -> tuple[list[InputField], list[tuple[str, str]]]:
    """A declared JSON-Schema ``parameters`` as input fields, and what is wrong with it
    (``(where, message)``, where is relative to ``parameters``)."""
    problems: list[tuple[str, str]] = []
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return [], [("", "'parameters' must be a JSON Schema of type object")]
    for key in schema:
        if key not in ("type", "properties", "required", "additionalProperties", "description"):
            problems.append((key, f"'{key}' is not supported in a tool's parameters"))
    properties = schema.get("properties") or {}
    required = schema.get("required") or []
    if not isinstance(properties, dict):
        return [], [("properties", "'properties' must be an object")]
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        return [], [("required", "'required' must be a list of property names")]
    if len(properties) > MAX_PARAMETERS:
        return [], [("properties", f"a tool has at most {MAX_PARAMETERS} parameters")]
    fields = []
    for name, spec in properties.items():
        where = f"properties.{name}"
        if not FIELD_NAME.fullmatch(name):
            problems.append((where, "a parameter's name is letters, digits and underscores"))
            continue
        if not isinstance(spec, dict) or spec.get("type") not in FIELD_TYPES:
            problems.append((where, f"a parameter needs a type: one of {', '.join(FIELD_TYPES)}"))
            continue
        unknown = set(spec) - _PROPERTY_KEYS
        if unknown:
            problems.append((where, f"not supported in a parameter: {', '.join(sorted(unknown))}"))
            continue
        declared = InputField(name=name, type=spec["type"], required=name in required)
        description = spec.get("description")
        if description is not None and not isinstance(description, str):
            problems.append((f"{where}.description", "a description is text"))
        declared.description = description if isinstance(description, str) else ""
        most = spec.get("maxLength", spec.get("maxItems"))
        if most is not None:
            if isinstance(most, bool) or not isinstance(most, int) or most < 1:
                problems.append((where, "maxLength and maxItems are positive integers"))
            else:
                declared.max_length = most
        if "enum" in spec:
            values = spec["enum"]
            if not isinstance(values, list) or not values or any(_typed(declared.type, v)[1] for v in values):
                problems.append((f"{where}.enum", f"enum is a non-empty list of {declared.type} values"))
            else:
                declared.enum = [_typed(declared.type, v)[0] for v in values]
        fields.append(declared)
    for name in required:
        if name not in properties:
            problems.append(("required", f"'{name}' is required but not a property"))
    return fields, problems


def check_arguments(fields: list[InputField], raw: str) -> tuple[dict | None, str | None]:
    """The arguments a model wrote (JSON text), as the tool will take them, or why not."""
    try:
        arguments = json.loads(raw or "{}")
    except ValueError as exc:
        return None, f"the arguments are not valid JSON ({exc})"
    if not isinstance(arguments, dict):
        return None, "the arguments must be a JSON object"
    try:
        return InputNode.checking(fields).validate_inputs(arguments), None
    except InputError as exc:
        messages = (problem.message.replace("an input of this workflow", "a parameter") for problem in exc.problems)
        return None, "; ".join(messages)


@dataclass(frozen=True)
class WorkflowTool:
    """A workflow, as an agent's tool: what it says it does, and its parameters."""

    workflow_id: str
    description: str
    fields: tuple[InputField, ...]
