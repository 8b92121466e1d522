"""The editor's form, drawn: a definition (maybe invalid) as one form per node,
rows for repeated parts, and connection rows.

Every form element is named by the definition path it edits
(``nodes[1].config.prompt``, ``connections[0].to``): that is also the path the
validator gives a problem, so ``place_problems`` puts each problem next to its
field. Options the form has no field for travel in a hidden ``_extra`` field;
``_keys`` remembers which options a node spelled out (see ``draft.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..engine.definition import ON_ERROR
from ..engine.errors import Problem
from ..engine.nodes.processing import OPERATIONS
from .editor_schema import (
    INPUT_ROW_SPECS,
    MISSING,
    OPERATION_HELP,
    Spec,
    Widget,
    choices,
    css_id,
    references_for,
    specs_for,
)

_LAST_SEGMENT = re.compile(r"^(.*?)(\.[^.\[\]]*|\[\d+\])$")


@dataclass(frozen=True)
class FormField(Widget):
    """One form element: its name is the definition path it edits."""

    name: str
    label: str
    kind: str
    value: Any = ""
    structural: bool = False  # a change redraws the editor (a new operation has other options)
    problem_paths: tuple[str, ...] = ()

    @property
    def dom_id(self) -> str:
        return "f-" + css_id(self.name)

    @property
    def slot(self) -> str:
        return "pb-" + css_id(self.name)

    @property
    def takes_references(self) -> bool:
        return self.kind in ("template", "template_line", "expression")


@dataclass
class Row:
    """A repeated group inside a node: an input field, an output field, a merge value."""

    path: str
    index: int
    fields: list[FormField]
    hidden: dict[str, str] = field(default_factory=dict)

    @property
    def slot(self) -> str:
        return "pb-" + css_id(self.path)


@dataclass
class NodeForm:
    index: int
    id: str
    type: str
    name: str
    on_error: str
    fields: list[FormField]
    rows: list[Row]
    row_kind: str | None  # "input_fields", "output_fields", "merge_values"
    hidden: dict[str, str]
    references: list[str]
    mode: str | None = None  # output: "fields" or "template"
    operation: str | None = None

    @property
    def path(self) -> str:
        return f"nodes[{self.index}]"

    @property
    def slot(self) -> str:
        return "pb-" + css_id(self.path)

    @property
    def anchor(self) -> str:
        return "node-" + self.id if self.id else f"node-{self.index}"

    def head_fields(self) -> list[FormField]:
        """The fields every node has: its id and display name."""
        base = self.path
        return [
            FormField(
                f"{base}.id",
                "Id",
                "text",
                self.id,
                required=True,
                help="Others refer to it as {{ id.field }}.",
                problem_paths=(f"{base}.id",),
            ),
            FormField(
                f"{base}.name",
                "Display name",
                "text",
                self.name,
                placeholder="optional",
                problem_paths=(f"{base}.name",),
            ),
        ]

    def error_field(self) -> FormField:
        base = self.path
        return FormField(
            f"{base}.on_error",
            "On error",
            "select",
            self.on_error,
            advanced=True,
            choices=(
                ("fail", "Fail the run"),
                ("continue", "Continue (output is null)"),
                ("branch", "Take the “error” connections"),
            ),
            problem_paths=(f"{base}.on_error",),
        )

    def advanced_fields(self) -> list[FormField]:
        return [f for f in self.fields if f.advanced] + [self.error_field()]

    def all_fields(self) -> list[FormField]:
        return self.head_fields() + [self.error_field()] + self.fields + [f for row in self.rows for f in row.fields]

    def slots(self) -> list[str]:
        return [self.slot] + [f.slot for f in self.all_fields()] + [row.slot for row in self.rows]


def node_forms(definition: dict) -> list[NodeForm]:
    nodes = definition.get("nodes") if isinstance(definition.get("nodes"), list) else []
    return [_node_form(index, node if isinstance(node, dict) else {}, definition) for index, node in enumerate(nodes)]


def _node_form(index: int, node: dict, definition: dict) -> NodeForm:
    base = f"nodes[{index}]"
    kind = node.get("type") if isinstance(node.get("type"), str) else ""
    config = node.get("config") if isinstance(node.get("config"), dict) else {}
    specs, rows, row_kind, mode, operation = specs_for(kind, config), [], None, None, None
    fields = []
    if kind == "processing":
        operation = config.get("operation") if isinstance(config.get("operation"), str) else "template"
        options = choices(*OPERATIONS)
        if operation not in OPERATIONS:
            options = ((operation, f"{operation} (unknown)"), *options)
        fields.append(
            FormField(
                f"{base}.config.operation",
                "Operation",
                "select",
                operation,
                choices=options,
                help=OPERATION_HELP.get(operation, ""),
                structural=True,
                problem_paths=(f"{base}.config.operation",),
            )
        )
    if kind == "output":
        mode = "template" if config.get("template") is not None and config.get("fields") is None else "fields"
        fields.append(
            FormField(
                f"{base}.mode",
                "Shape",
                "select",
                mode,
                structural=True,
                choices=(("fields", "Named fields"), ("template", "One template")),
                help="Named fields give an object; one template gives a single value.",
            )
        )
    for spec in specs:
        fields.append(_form_field(f"{base}.config", spec, config.get(spec.key, MISSING)))
    if kind == "input":
        row_kind, rows = "input_fields", _input_rows(base, config.get("fields"))
    elif kind == "output" and mode == "fields":
        row_kind, rows = "output_fields", _named_rows(base, "fields", config.get("fields"))
    elif kind == "processing" and operation == "merge":
        row_kind, rows = "merge_values", _named_rows(base, "values", config.get("values"))
    known = {spec.key for spec in specs} | {"operation"} | ({"fields"} if row_kind else set())
    known |= {"values"} if row_kind == "merge_values" else set()
    known |= {"fields", "template"} if kind == "output" else set()
    extra = {
        "node": {k: v for k, v in node.items() if k not in ("id", "type", "name", "config", "on_error")},
        "config": {k: v for k, v in config.items() if k not in known},
    }
    hidden = {
        f"{base}.type": kind,
        f"{base}._was": node.get("id") if isinstance(node.get("id"), str) else "",
        f"{base}._keys": json.dumps({"node": sorted(node), "config": sorted(config)}),
        f"{base}._extra": json.dumps(extra) if extra["node"] or extra["config"] else "",
    }
    return NodeForm(
        index=index,
        id=_display(node.get("id"), "text"),
        type=kind,
        name=_display(node.get("name"), "text"),
        on_error=node.get("on_error") if node.get("on_error") in ON_ERROR else "fail",
        fields=fields,
        rows=rows,
        row_kind=row_kind,
        hidden=hidden,
        references=references_for(definition, node.get("id")),
        mode=mode,
        operation=operation,
    )


def _form_field(prefix: str, spec: Spec, value: Any) -> FormField:
    path = f"{prefix}.{spec.key}"
    if spec.kind == "checkbox":
        shown = value if isinstance(value, bool) else spec.default
    elif value is MISSING:
        shown = spec.default if spec.kind == "select" and spec.default is not MISSING else ""
    else:
        shown = _display(value, spec.kind)
    options = spec.choices
    if spec.kind == "select" and shown not in {c[0] for c in options}:
        options = ((str(shown), f"{shown} (unknown)"), *options)
    return FormField(path, spec.label, spec.kind, shown, **{**spec.looks(), "choices": options}, problem_paths=(path,))


def _display(value: Any, kind: str) -> Any:
    if value is None or value is MISSING:
        return ""
    if kind == "separator" and isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _input_rows(base: str, fields: Any) -> list[Row]:
    rows = []
    for index, spec_value in enumerate(fields if isinstance(fields, list) else []):
        item = spec_value if isinstance(spec_value, dict) else {}
        path = f"{base}.config.fields[{index}]"
        form_fields = []
        for spec in INPUT_ROW_SPECS:
            value = item.get(spec.key, MISSING)
            if spec.kind == "typed":
                as_string = isinstance(value, str) and item.get("type", "string") == "string"
                shown = "" if value is MISSING or value is None else (value if as_string else _display(value, "json"))
                form_fields.append(
                    FormField(
                        f"{path}.{spec.key}",
                        spec.label,
                        "text",
                        shown,
                        placeholder=spec.placeholder,
                        problem_paths=(f"{path}.{spec.key}",),
                    )
                )
            elif spec.kind == "enum":
                form_fields.append(
                    FormField(
                        f"{path}.{spec.key}",
                        spec.label,
                        "text",
                        _enum_text(value),
                        placeholder=spec.placeholder,
                        problem_paths=(f"{path}.{spec.key}",),
                    )
                )
            else:
                form_fields.append(_form_field(path, spec, value))
        extra = {k: v for k, v in item.items() if k not in {s.key for s in INPUT_ROW_SPECS}}
        hidden = {f"{path}._keys": json.dumps(sorted(item))}
        if extra:
            hidden[f"{path}._extra"] = json.dumps(extra)
        rows.append(Row(path, index, form_fields, hidden))
    return rows


def _enum_text(value: Any) -> str:
    if not isinstance(value, list):
        return "" if value is MISSING or value is None else _display(value, "json")
    if all(isinstance(v, str) and "," not in v and v == v.strip() and v for v in value):
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False)


def _named_rows(base: str, key: str, mapping: Any) -> list[Row]:
    """An object of name → template, as rows (output ``fields``, merge ``values``)."""
    rows = []
    items = list(mapping.items()) if isinstance(mapping, dict) else []
    for index, (name, template) in enumerate(items):
        path = f"{base}.config.{key}[{index}]"
        rows.append(
            Row(
                path,
                index,
                [
                    FormField(f"{path}.name", "Name", "text", name, required=True, problem_paths=(f"{path}.name",)),
                    FormField(
                        f"{path}.template",
                        "Template",
                        "template_line",
                        _display(template, "text"),
                        problem_paths=(f"{path}.template", f"{base}.config.{key}.{name}"),
                    ),
                ],
            )
        )
    return rows


def connection_rows(definition: dict) -> list[dict]:
    connections = definition.get("connections") if isinstance(definition.get("connections"), list) else []
    rows = []
    for index, connection in enumerate(connections):
        item = connection if isinstance(connection, dict) else {}
        rows.append(
            {
                "index": index,
                "path": f"connections[{index}]",
                "from": item.get("from") if isinstance(item.get("from"), str) else "",
                "to": item.get("to") if isinstance(item.get("to"), str) else "",
                "branch": item.get("branch") if isinstance(item.get("branch"), str) else "",
                "extra": json.dumps({k: v for k, v in item.items() if k not in ("from", "to", "branch")})
                if set(item) - {"from", "to", "branch"}
                else "",
            }
        )
    return rows


def connection_slots(definition: dict) -> list[str]:
    slots = ["pb-connections"]
    for row in connection_rows(definition):
        base = row["path"]
        slots += ["pb-" + css_id(base)] + ["pb-" + css_id(f"{base}.{end}") for end in ("from", "to", "branch")]
    return slots


def place_problems(problems: list[Problem], forms: list[NodeForm], definition: dict) -> tuple[dict, list]:
    """(slot id → messages, problems with no field of their own). A problem goes to
    the field whose path it names, else to the nearest enclosing row or node."""
    slots: dict[str, str] = {
        "nodes": "pb-nodes",
        "connections": "pb-connections",
        "definition_json": "pb-definition_json",
    }
    for node_form in forms:
        slots[node_form.path] = node_form.slot
        for row in node_form.rows:
            slots[row.path] = row.slot
        for form_field in node_form.all_fields():
            for path in form_field.problem_paths or (form_field.name,):
                slots[path] = form_field.slot
    for row in connection_rows(definition):
        slots[row["path"]] = "pb-" + css_id(row["path"])
        for end in ("from", "to", "branch"):
            slots[f"{row['path']}.{end}"] = "pb-" + css_id(f"{row['path']}.{end}")
    placed: dict[str, list[str]] = {}
    loose = []
    for problem in problems:
        path = problem.path
        while path and path not in slots:
            match = _LAST_SEGMENT.match(path)
            path = match.group(1) if match else ""
        if path:
            placed.setdefault(slots[path], []).append(problem.message)
        else:
            loose.append(problem)
    return placed, loose
