"""What the editor knows about each node type: the options of its config as form
fields (``Spec``), what a new node starts as, and what a template may refer to.

One schema per node type drives both the drawn form (``node_forms.py``) and the
reading of a posted one (``draft.py``), so the two never drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from ..engine.definition import BRANCHES
from ..engine.nodes.input import FIELD_TYPES
from ..engine.nodes.processing import OPERATIONS

MISSING = object()
NODE_TYPES = ("input", "ai_model", "processing", "conditional", "output")

OPERATION_HELP = {
    "template": "Renders a template into a new value.",
    "merge": "Builds an object: each name gets a template's value.",
    "json_parse": "Parses JSON text (a Markdown code fence around it is fine).",
    "extract": "Follows a dotted path into an object or list.",
    "regex_extract": "The first match of a regular expression (or one of its groups).",
    "split": "Splits text into a list at each separator.",
    "join": "Joins a list into text with the separator between items.",
    "truncate": "Keeps the first N characters (or list items).",
    "lowercase": "Lower-cases the text.",
    "uppercase": "Upper-cases the text.",
    "strip": "Removes whitespace at both ends.",
    "word_count": "Counts the words.",
    "sanitize": "Drops HTML tags and control characters, collapses whitespace.",
}


@dataclass(frozen=True, kw_only=True)
class Widget:
    """How a form element looks: shared by an option's ``Spec`` and the form fields drawn from it."""

    choices: tuple[tuple[str, str], ...] = ()
    help: str = ""
    placeholder: str = ""
    advanced: bool = False
    required: bool = False
    rows: int = 3
    minimum: float | None = None
    maximum: float | None = None
    step: str = "any"

    def looks(self) -> dict[str, Any]:
        """These looks as keywords, to hand on (an option's spec to the field drawn from it)."""
        return {f.name: getattr(self, f.name) for f in fields(Widget)}


@dataclass(frozen=True)
class Spec(Widget):
    """One option of a node's config, as a form field."""

    key: str
    label: str
    kind: str  # text, code, template, template_line, expression, number, integer, select, checkbox, separator, group
    default: Any = MISSING


def choices(*values: str) -> tuple[tuple[str, str], ...]:
    return tuple((v, v) for v in values)


AI_MODEL_SPECS = (
    Spec("model", "Model", "text", placeholder="server default", help="Any model your server offers."),
    Spec(
        "response_format",
        "Response format",
        "select",
        default="text",
        choices=(("text", "Text"), ("json", "JSON object (adds .json)")),
    ),
    Spec("temperature", "Temperature", "number", minimum=0, maximum=2, step="0.1", placeholder="model default"),
    Spec("max_tokens", "Max tokens", "integer", minimum=1, step="1", placeholder="model default"),
    Spec("system", "System message", "template", rows=2, help="Optional. Sets the model's role and tone."),
    Spec(
        "prompt",
        "Prompt",
        "template",
        rows=5,
        required=True,
        help="Sent as the user message. Insert values from upstream nodes with {{ node.field }}.",
    ),
    Spec("cache", "Reuse cached answers for identical calls", "checkbox", default=True, advanced=True),
    Spec("timeout", "Timeout (seconds)", "number", minimum=0.1, maximum=3600, advanced=True, placeholder="60"),
    Spec("retries", "Retries", "integer", minimum=0, maximum=10, step="1", advanced=True, placeholder="2"),
)
CONDITIONAL_SPECS = (
    Spec(
        "condition",
        "Condition",
        "expression",
        required=True,
        placeholder="draft.text | length > 200",
        help="A Jinja2 expression. When true, connections marked “true” are taken; otherwise those marked “false”.",
    ),
)
OPERATION_SPECS: dict[str, tuple[Spec, ...]] = {
    "template": (Spec("template", "Template", "template", rows=4, required=True),),
    "extract": (
        Spec("path", "Path", "text", required=True, placeholder="items.0.title", help="Dotted keys and list indexes."),
    ),
    "regex_extract": (
        Spec("pattern", "Regular expression", "code", required=True),
        Spec("group", "Group", "group", placeholder="0", help="A group number or name; 0 is the whole match."),
    ),
    "split": (Spec("separator", "Separator", "separator", placeholder="\\n", help="\\n is a new line, \\t a tab."),),
    "join": (Spec("separator", "Separator", "separator", placeholder="\\n", help="\\n is a new line, \\t a tab."),),
    "truncate": (Spec("length", "Length", "integer", required=True, minimum=0, step="1"),),
    "sanitize": (Spec("max_length", "Maximum length", "integer", minimum=1, step="1", placeholder="10000"),),
}
INPUT_ROW_SPECS = (
    Spec("name", "Name", "text", required=True, placeholder="topic"),
    Spec("type", "Type", "select", default="string", choices=choices(*FIELD_TYPES)),
    Spec("required", "Required", "checkbox", default=False),
    Spec("default", "Default", "typed", placeholder="none"),
    Spec("label", "Label", "text", placeholder="shown on the run form"),
    Spec("description", "Description", "text"),
    Spec("max_length", "Max length", "integer", minimum=1, step="1"),
    Spec("enum", "Allowed values", "enum", placeholder="comma-separated, or a JSON list"),
)
OUTPUT_FORMAT_SPEC = Spec(
    "format", "Format", "select", default="text", choices=(("text", "Text"), ("markdown", "Markdown"), ("json", "JSON"))
)
NEW_NODE_CONFIG = {
    "input": {"fields": [{"name": "text", "type": "string", "required": True}]},
    "ai_model": {"prompt": ""},
    "processing": {"operation": "template", "template": ""},
    "conditional": {"condition": ""},
    "output": {"fields": {"result": ""}},
}
NEW_NODE_IDS = {"input": "in", "ai_model": "model", "processing": "step", "conditional": "check", "output": "out"}
REFERENCE_FIELDS = {
    "ai_model": ("text", "model", "usage.total_tokens"),
    "processing": ("value",),
    "conditional": ("result",),
    "output": ("value",),
}


def specs_for(kind: str, config: dict, operation: str | None = None, mode: str | None = None) -> tuple[Spec, ...]:
    if kind == "ai_model":
        return AI_MODEL_SPECS
    if kind == "conditional":
        return CONDITIONAL_SPECS
    if kind == "processing":
        if operation is None:
            operation = config.get("operation") if isinstance(config.get("operation"), str) else "template"
        if operation not in OPERATIONS:
            return ()
        takes_input = OPERATIONS[operation].takes_input
        input_spec = (
            (
                Spec(
                    "input",
                    "Input",
                    "template_line",
                    required=True,
                    placeholder="{{ node.field }}",
                    help="The value operated on.",
                ),
            )
            if takes_input
            else ()
        )
        return input_spec + OPERATION_SPECS.get(operation, ())
    if kind == "output":
        if mode is None:
            mode = "template" if config.get("template") is not None and config.get("fields") is None else "fields"
        if mode == "template":
            return (Spec("template", "Template", "template", rows=4, required=True), OUTPUT_FORMAT_SPEC)
        return ()
    return ()


def css_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-")


BRANCH_CHOICES = (("", "always"), *tuple((b, b) for b in BRANCHES))


def node_ids(definition: dict) -> list[str]:
    nodes = definition.get("nodes") if isinstance(definition.get("nodes"), list) else []
    return [n["id"] for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str) and n["id"]]


def references_for(definition: dict, node_id: Any) -> list[str]:
    """``node.field`` names a template in ``node_id`` may use: the outputs of every
    node upstream of it, following the connections as drawn."""
    nodes = {n["id"]: n for n in definition.get("nodes") or [] if isinstance(n, dict) and isinstance(n.get("id"), str)}
    if node_id not in nodes:
        return []
    parents: dict[str, set[str]] = {}
    for connection in definition.get("connections") or []:
        if isinstance(connection, dict) and connection.get("from") in nodes and connection.get("to") in nodes:
            parents.setdefault(connection["to"], set()).add(connection["from"])
    upstream, stack = set(), list(parents.get(node_id, ()))
    while stack:
        current = stack.pop()
        if current not in upstream and current != node_id:
            upstream.add(current)
            stack.extend(parents.get(current, ()))
    found = []
    for ancestor_id, ancestor in nodes.items():
        if ancestor_id not in upstream:
            continue
        config = ancestor.get("config") if isinstance(ancestor.get("config"), dict) else {}
        if ancestor.get("type") == "input":
            names = [f.get("name") for f in config.get("fields") or [] if isinstance(f, dict)]
            found += [f"{ancestor_id}.{name}" for name in names if isinstance(name, str) and name]
        else:
            fields = REFERENCE_FIELDS.get(ancestor.get("type"), ())
            if ancestor.get("type") == "ai_model" and config.get("response_format") == "json":
                fields = ("text", "json", *fields[1:])
            found += [f"{ancestor_id}.{name}" for name in fields]
    return found
