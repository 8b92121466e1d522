"""The run form: one widget per field of the workflow's input node, read back into
the JSON inputs ``start_execution`` checks (so its problems, with paths
``inputs.<field>``, land next to the widgets)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..engine import jsontext
from ..engine.errors import Problem

LONG_TEXT = 160  # strings allowed to be longer than this get a textarea


@dataclass
class RunField:
    name: str
    label: str
    type: str
    widget: str  # text, textarea, number, select, checkbox, json
    required: bool
    description: str
    value: Any
    choices: tuple[tuple[str, str], ...] = ()
    max_length: int | None = None
    step: str = "any"
    placeholder: str = ""

    @property
    def form_name(self) -> str:
        return f"inputs.{self.name}"

    @property
    def dom_id(self) -> str:
        return "in-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)

    @property
    def slot(self) -> str:
        return "pb-in-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)


def run_fields(graph, values: dict | None = None, start: dict | None = None) -> list[RunField]:
    """Widgets for the input node's fields, filled with ``values`` (the strings that
    were posted), else with ``start`` (inputs to begin from: an earlier run's, or the
    template's examples), else each field's default; a field's ``example`` is its
    placeholder."""
    node = graph.input_node if graph is not None else None
    posted = values or {}
    begin = start or {}
    fields = []
    for declared in node.fields if node is not None else []:
        value = posted.get(declared.name, _shown(begin.get(declared.name, declared.default), declared.type))
        label = declared.label or declared.name.replace("_", " ").capitalize()
        common = {
            "name": declared.name,
            "label": label,
            "type": declared.type,
            "required": declared.required,
            "description": declared.description,
            "max_length": declared.max_length,
            "placeholder": _shown(declared.example, declared.type),
        }
        if declared.enum:
            choices = tuple((json.dumps(v) if not isinstance(v, str) else v, str(v)) for v in declared.enum)
            if not declared.required or declared.default is None:
                choices = (("", "— choose —"), *choices)
            fields.append(RunField(widget="select", value=value, choices=choices, **common))
        elif declared.type == "boolean":
            fields.append(
                RunField(
                    widget="select",
                    value=value,
                    choices=(("", "— not set —"), ("true", "Yes"), ("false", "No"))
                    if not declared.required
                    else (("true", "Yes"), ("false", "No")),
                    **common,
                )
            )
        elif declared.type in ("number", "integer"):
            fields.append(
                RunField(widget="number", value=value, step="1" if declared.type == "integer" else "any", **common)
            )
        elif declared.type in ("object", "array"):
            fields.append(RunField(widget="json", value=value, **common))
        else:
            long = declared.max_length is None or declared.max_length > LONG_TEXT
            fields.append(RunField(widget="textarea" if long else "text", value=value, **common))
    return fields


def _shown(default: Any, kind: str) -> str:
    if default is None:
        return ""
    if kind == "string":
        return default
    if kind == "boolean":
        return "true" if default else "false"
    return json.dumps(default, ensure_ascii=False) if kind in ("object", "array") else str(default)


def read_inputs(graph, form) -> tuple[dict, dict, list[Problem]]:
    """(inputs for the service, the raw posted strings, problems the form itself
    found). Empty fields are left out, so defaults and "required" apply as in the API."""
    inputs, raw, problems = {}, {}, []
    node = graph.input_node if graph is not None else None
    for declared in node.fields if node is not None else []:
        text = form.get(f"inputs.{declared.name}", "")
        raw[declared.name] = text
        if text == "" or (declared.type != "string" and not text.strip()):
            continue
        enum_json = declared.enum and declared.type != "string"
        if declared.type == "string":
            inputs[declared.name] = text
        elif declared.type == "boolean":
            inputs[declared.name] = {"true": True, "false": False}.get(text, text)
        elif declared.type in ("number", "integer") and not enum_json:
            inputs[declared.name] = _number(text)
        else:
            try:
                inputs[declared.name] = jsontext.loads(text)
            except ValueError as exc:
                problems.append(Problem(f"inputs.{declared.name}", "invalid_value", f"is not valid JSON: {exc}"))
    return inputs, raw, problems


def _number(text: str) -> Any:
    text = text.strip()
    if re.fullmatch(r"[+-]?\d{1,18}", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text  # the input node says why it is refused
