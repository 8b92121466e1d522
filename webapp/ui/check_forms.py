"""The add-check form, drawn from the check kinds' own schemas (``schemas/checks.py``):
the kinds, their labels and help, each kind's fields with their types, bounds and
descriptions are read from there, never listed again here or in a template.

A posted form is read back into a check (``check.<field>`` per field, typed by the
field's JSON type) and validated by ``Check`` itself, so its problems land next to the
fields they name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..engine import jsontext
from ..engine.errors import Problem
from ..errors import ValidationFailed
from ..schemas.base import parse
from ..schemas.checks import KINDS, MODEL_OF_KIND, Check, stored

LONG_TEXT = 300  # strings allowed to be longer than this get a textarea
SKIPPED = {"kind"}  # the kind is the form's select, not a field


@dataclass
class CheckField:
    name: str  # as the check's JSON names it
    label: str
    widget: str  # text, textarea, number, json
    required: bool
    description: str
    max_length: int | None = None
    step: str = "any"
    lenient: bool = False  # any JSON value: text that is not JSON is taken as a string
    value: str = ""

    @property
    def form_name(self) -> str:
        return f"check.{self.name}"

    @property
    def dom_id(self) -> str:
        return "check-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)

    @property
    def slot(self) -> str:
        return "pb-check-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)


@dataclass
class CheckForm:
    kind: str
    label: str
    help: str
    fields: list[CheckField]
    placed: dict[str, list[str]] = field(default_factory=dict)
    loose: list[str] = field(default_factory=list)


def kind_choices() -> list[tuple[str, str]]:
    """(kind, label) in the order the schema lists them."""
    return [(kind, label) for kind, (label, _help) in KINDS.items()]


def kind_label(kind: str) -> str:
    return KINDS.get(kind, (kind, ""))[0]


def chosen_kind(text: str | None) -> str:
    return text if text in KINDS else next(iter(KINDS))


def check_form(kind: str, posted=None) -> CheckForm:
    """The fields of ``kind``, filled with what was posted (``posted``, a form), if anything."""
    kind = chosen_kind(kind)
    label, help_text = KINDS[kind]
    fields = [CheckField(**spec) for spec in _field_specs(kind)]
    for item in fields:
        item.value = posted.get(item.form_name, "") if posted is not None else ""
    return CheckForm(kind, label, help_text, fields)


@cache
def _field_specs(kind: str) -> tuple[dict, ...]:
    schema = MODEL_OF_KIND[kind].model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    specs = []
    for name, prop in schema.get("properties", {}).items():
        if name in SKIPPED:
            continue
        typed = next((p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"), prop)
        kind_of = typed.get("type")
        widget, step = "json", "any"
        if kind_of == "string":
            widget = "textarea" if (typed.get("maxLength") or LONG_TEXT + 1) > LONG_TEXT else "text"
        elif kind_of in ("integer", "number"):
            widget, step = "number", "1" if kind_of == "integer" else "any"
        specs.append(
            {
                "name": name,
                "label": name.replace("_", " ").capitalize(),
                "widget": widget,
                "step": step,
                "lenient": kind_of is None,
                "required": name in required,
                "description": prop.get("description", "") + _json_note(widget, kind_of),
                "max_length": typed.get("maxLength") if kind_of == "string" else None,
            }
        )
    return tuple(specs)


def read_check(kind: str, form) -> tuple[dict | None, CheckForm]:
    """The posted check as stored (or None), and the form to draw again with its problems."""
    drawn = check_form(kind, form)
    if form.get("kind") not in KINDS:
        drawn.loose.append("Choose a kind of check.")
        return None, drawn
    body: dict[str, Any] = {"kind": drawn.kind}
    for item in drawn.fields:
        text = item.value
        if text.strip() == "":
            continue
        try:
            body[item.name] = _typed(item, text)
        except ValueError as exc:
            drawn.placed.setdefault(item.slot, []).append(f"is not valid JSON: {exc}")
    if drawn.placed:
        return None, drawn
    try:
        check = parse(Check, body, "The check is not valid")
    except ValidationFailed as exc:
        _place(drawn, exc.details)
        return None, drawn
    return stored(check), drawn


def _typed(item: CheckField, text: str) -> Any:
    if item.widget in ("text", "textarea"):
        return text
    if item.widget == "number":
        stripped = text.strip()
        if re.fullmatch(r"[+-]?\d{1,18}", stripped):
            return int(stripped)
        try:
            return float(stripped)
        except ValueError:
            return stripped  # the schema says why it is refused
    if not item.lenient:
        return jsontext.loads(text)
    try:
        return jsontext.loads(text)
    except ValueError:
        return text


def _json_note(widget: str, kind_of: str | None) -> str:
    if widget != "json":
        return ""
    return " Written as JSON; text that is not JSON is taken as a string." if kind_of is None else " Written as JSON."


def _place(drawn: CheckForm, problems: list[Problem]) -> None:
    slots = {item.name: item.slot for item in drawn.fields}
    for problem in problems:
        head = problem.path.split(".")[0].split("[")[0]
        # Beside its field, a message need not name it ("'value': must be…" → "must be…").
        message = problem.message.removeprefix(f"'{problem.path or 'the body'}': ")
        if head in slots:
            drawn.placed.setdefault(slots[head], []).append(message)
        else:
            drawn.loose.append(message)
