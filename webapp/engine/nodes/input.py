"""``input``: declares the workflow's inputs and checks what a run is given."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, NodeError, Problem
from ..options import Option, choices
from .base import ConfigReader, NodeOutcome, NodeType, RunContext

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
FIELD_TYPES = ("string", "number", "integer", "boolean", "object", "array")
FIELD_OPTIONS = (  # what one declared field may say
    Option(key="name", kind="text", label="Name", required=True, placeholder="topic", pattern=FIELD_NAME.pattern),
    Option(key="type", kind="choice", label="Type", default="string", choices=choices(*FIELD_TYPES)),
    Option(key="required", kind="boolean", label="Required", default=False),
    Option(key="default", kind="value", label="Default", placeholder="none", help="Used when the input is left out."),
    Option(
        key="example",
        kind="value",
        label="Example",
        placeholder="none",
        help="Shown greyed in the run form's empty field; never used as a value.",
    ),
    Option(key="label", kind="text", label="Label", placeholder="shown on the run form"),
    Option(key="description", kind="text", label="Description"),
    Option(key="max_length", kind="integer", label="Max length", minimum=1, help="For string and array fields."),
    Option(key="enum", kind="values", label="Allowed values", placeholder="comma-separated, or a JSON list"),
)
_FIELD_KEYS = {option.key for option in FIELD_OPTIONS}


@dataclass
class InputField:
    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    description: str = ""
    max_length: int | None = None
    enum: list | None = None
    label: str | None = None
    example: Any = None

    def check(self, value: Any) -> tuple[Any, str | None]:
        """The value as the workflow will see it, or why it is refused.

        Types are strict JSON types; the only coercions are an integer accepted as a
        number and a whole-number float accepted (and stored) as an integer.
        """
        value, wrong = _typed(self.type, value)
        if wrong:
            return None, wrong
        if self.max_length is not None and isinstance(value, (str, list)) and len(value) > self.max_length:
            unit = "characters" if isinstance(value, str) else "items"
            return None, f"is longer than {self.max_length} {unit}"
        if self.enum is not None and value not in self.enum:
            return None, "must be one of " + ", ".join(map(str, self.enum))
        return value, None


def _typed(kind: str, value: Any) -> tuple[Any, str | None]:
    wrong = f"must be {'an' if kind in ('integer', 'object', 'array') else 'a'} {kind}"
    if kind == "string":
        return (value, None) if isinstance(value, str) else (None, wrong)
    if kind == "boolean":
        return (value, None) if isinstance(value, bool) else (None, wrong)
    if kind == "object":
        return (value, None) if isinstance(value, dict) else (None, wrong)
    if kind == "array":
        return (value, None) if isinstance(value, list) else (None, wrong)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, wrong
    if isinstance(value, float) and not math.isfinite(value):
        return None, wrong
    if kind == "integer":
        if isinstance(value, float):
            return (int(value), None) if value.is_integer() else (None, wrong)
        return value, None
    return value, None  # number


class InputNode(NodeType):
    type_name = "input"
    label = "Input"
    summary = "Declares the workflow's inputs and checks what a run is given."
    colour = "#0284c7"
    options = (Option(key="fields", kind="fields", label="Fields", items=FIELD_OPTIONS),)
    starter = {"fields": [{"name": "text", "type": "string", "required": True}]}
    starter_id = "in"
    takes_input = False
    runs_user_code = False  # checks the inputs against declared fields: no user code to bound

    @classmethod
    def outputs_for(cls, config: dict) -> tuple[str, ...]:
        fields = config.get("fields") if isinstance(config.get("fields"), list) else []
        return tuple(f["name"] for f in fields if isinstance(f, dict) and isinstance(f.get("name"), str) and f["name"])

    @classmethod
    def lists_for(cls, config: dict) -> tuple[str, ...]:
        declared = config.get("fields") if isinstance(config.get("fields"), list) else []
        arrays = [f.get("name") for f in declared if isinstance(f, dict) and f.get("type") == "array"]
        return tuple(name for name in cls.outputs_for(config) if name in arrays)

    def configure(self, reader: ConfigReader) -> None:
        self.fields: list[InputField] = []
        raw = reader.read(self.options[0])
        if raw is not None and not isinstance(raw, list):
            reader.problem("fields", "invalid_value", "'fields' must be a list of field declarations")
            return
        names = set()
        for index, spec in enumerate(raw if isinstance(raw, list) else []):
            declared = _read_field(spec, f"fields[{index}]", reader)
            if declared is None:
                continue
            if declared.name in names:
                reader.problem(
                    f"fields[{index}].name", "duplicate_id", f"input field '{declared.name}' is declared twice"
                )
                continue
            names.add(declared.name)
            self.fields.append(declared)

    @classmethod
    def checking(cls, fields: list[InputField]) -> InputNode:
        """An input node of these fields, for checking values against them (an agent
        tool's arguments), with no config to read."""
        node = cls.__new__(cls)
        node.fields = list(fields)
        return node

    def validate_inputs(self, inputs: Any) -> dict:
        """Every problem with ``inputs`` at once (raises ``InputError``), else the values."""
        if not isinstance(inputs, dict):
            raise InputError([Problem("inputs", "invalid_value", "inputs must be an object")])
        problems, values = [], {}
        known = {f.name for f in self.fields}
        for name in inputs:
            if name not in known:
                problems.append(
                    Problem(f"inputs.{name}", "unknown_field", f"'{name}' is not an input of this workflow")
                )
        for declared in self.fields:
            if declared.name not in inputs or inputs[declared.name] is None:
                if declared.required and declared.default is None:
                    problems.append(
                        Problem(f"inputs.{declared.name}", "missing_field", f"'{declared.name}' is required")
                    )
                values[declared.name] = declared.default
                continue
            value, wrong = declared.check(inputs[declared.name])
            if wrong:
                problems.append(Problem(f"inputs.{declared.name}", "invalid_value", f"'{declared.name}' {wrong}"))
            values[declared.name] = value
        if problems:
            raise InputError(problems)
        return values

    def run(self, ctx: RunContext) -> NodeOutcome:
        try:
            values = self.validate_inputs(ctx.inputs)
        except InputError as exc:
            raise NodeError("invalid_input", "; ".join(p.message for p in exc.problems)) from None
        return NodeOutcome(output=values, input=ctx.inputs)


def _read_field(spec: Any, where: str, reader: ConfigReader) -> InputField | None:
    if not isinstance(spec, dict):
        reader.problem(where, "invalid_value", "a field must be an object with a name and a type")
        return None
    problems = len(reader.problems)
    for key in spec:
        if key not in _FIELD_KEYS:
            reader.problem(f"{where}.{key}", "invalid_value", f"unknown field option '{key}'")
    name = spec.get("name")
    if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
        code = "missing_field" if name is None else "invalid_value"
        reader.problem(f"{where}.name", code, "a field needs a name of letters, digits and underscores")
    kind = spec.get("type", "string")
    if kind not in FIELD_TYPES:
        reader.problem(f"{where}.type", "invalid_value", f"type must be one of {', '.join(FIELD_TYPES)}")
    declared = InputField(name=name if isinstance(name, str) else "", type=kind if kind in FIELD_TYPES else "string")
    for key, check in (
        ("required", lambda v: isinstance(v, bool)),
        ("description", lambda v: isinstance(v, str)),
        ("label", lambda v: isinstance(v, str)),
    ):
        if key in spec and spec[key] is not None:
            if check(spec[key]):
                setattr(declared, key, spec[key])
            else:
                reader.problem(f"{where}.{key}", "invalid_value", f"'{key}' has the wrong type")
    if spec.get("max_length") is not None:
        limit = spec["max_length"]
        if declared.type not in ("string", "array"):
            reader.problem(f"{where}.max_length", "invalid_value", "max_length applies to string and array fields")
        elif isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            reader.problem(f"{where}.max_length", "invalid_value", "max_length must be a positive integer")
        else:
            declared.max_length = limit
    if spec.get("enum") is not None:
        options = spec["enum"]
        if not isinstance(options, list) or not options:
            reader.problem(f"{where}.enum", "invalid_value", "enum must be a non-empty list")
        elif any(_typed(declared.type, option)[1] for option in options):
            reader.problem(f"{where}.enum", "invalid_value", f"every enum value must be a {declared.type}")
        else:
            declared.enum = [_typed(declared.type, option)[0] for option in options]
    for key in ("default", "example"):
        if spec.get(key) is not None:
            value, wrong = declared.check(spec[key])
            if wrong:
                reader.problem(f"{where}.{key}", "invalid_value", f"the {key} {wrong}")
            else:
                setattr(declared, key, value)
    return declared if len(reader.problems) == problems else None
