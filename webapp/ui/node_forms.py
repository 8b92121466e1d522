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
from dataclasses import dataclass, field, replace
from typing import Any

from ..engine.errors import Problem
from ..engine.node_types import ON_ERROR, Option
from .editor_schema import (
    MISSING,
    References,
    Spec,
    Widget,
    css_id,
    describe,
    item_specs,
    nested_options,
    row_options,
    specs_for,
    variant_of,
)
from .pickers import InputField, Pickers

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
    autofocus: bool = False  # where the keyboard lands when the editor is redrawn (a node just added)

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
class RowGroup:
    """An option drawn as rows: a list of declarations (``fields``) or an object of
    name → template (``templates``)."""

    key: str  # its path in the node's config: "headers", or "node.headers" inside a map's inner node
    title: str
    kind: str  # the option's kind: "fields" or "templates"
    rows: list[Row]
    help: str = ""


@dataclass
class Parts:
    """A config drawn: single fields, options drawn as rows, and nodes inside it."""

    fields: list[FormField]
    groups: list[RowGroup]
    nested: list[InnerForm]
    known: set[str]  # the config keys these parts edit (the rest travels in _extra)


@dataclass
class InnerForm:
    """A node inside the node (a map's inner node): its type, then its own parts."""

    path: str  # nodes[1].config.node
    label: str
    help: str
    type_field: FormField
    parts: Parts
    hidden: dict[str, str]


@dataclass(frozen=True)
class ToolRow:
    """One tool of an agent, as the editor lists it: a workflow's (its parameters are
    the workflow's inputs, looked up when drawn) or an HTTP call with its declared ones."""

    index: int
    name: str
    workflow_id: str | None = None
    call: str = ""  # an HTTP tool's "GET https://…"
    parameters: tuple[str, ...] = ()  # "q: string*" (* required)


def tool_rows(text: Any) -> list[ToolRow]:
    """The tools in an option of kind ``tools`` (drawn as JSON text), as far as they read."""
    try:
        tools = json.loads(text) if isinstance(text, str) and text.strip() else []
    except ValueError:
        return []
    rows = []
    for index, tool in enumerate(tools if isinstance(tools, list) else []):
        if not isinstance(tool, dict):
            continue
        name = _display(tool.get("name"), "text")
        if isinstance(tool.get("workflow_id"), str):
            rows.append(ToolRow(index, name, workflow_id=tool["workflow_id"]))
            continue
        http = tool.get("http") if isinstance(tool.get("http"), dict) else {}
        call = f"{_display(http.get('method') or 'GET', 'text')} {_display(http.get('url'), 'text')}"
        rows.append(ToolRow(index, name, call=call, parameters=parameter_labels(tool.get("parameters"))))
    return rows


def parameter_labels(schema: Any) -> tuple[str, ...]:
    """A JSON-Schema ``parameters`` as short labels: ``q: string*`` (* required)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return ()
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    labels = []
    for name, spec in schema["properties"].items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        labels.append(f"{name}: {kind if isinstance(kind, str) else '?'}{'*' if name in required else ''}")
    return tuple(labels)


@dataclass
class NodeForm:
    index: int
    id: str
    type: str
    name: str
    on_error: str
    parts: Parts
    hidden: dict[str, str]
    references: list[str]
    variant: str | None = None  # the operation or shape its options depend on
    selected: bool = False  # open in the editor's panel (the others are there, hidden)
    focused: bool = False  # just added: its id field takes the focus

    @property
    def fields(self) -> list[FormField]:
        return self.parts.fields

    @property
    def upstream(self) -> list[str]:
        """The ids of the nodes its templates may refer to, in the order of its references."""
        return list(dict.fromkeys(ref.split(".", 1)[0] for ref in self.references))

    @property
    def tool_field(self) -> FormField | None:
        """Its option of kind ``tools`` (an agent's), drawn with a picker beside it."""
        return next((f for f in self.fields if f.kind == "tools"), None)

    @property
    def tool_rows(self) -> list[ToolRow]:
        field_ = self.tool_field
        return tool_rows(field_.value) if field_ is not None else []

    @property
    def groups(self) -> list[RowGroup]:
        return self.parts.groups + [group for inner in self.parts.nested for group in inner.parts.groups]

    @property
    def rows(self) -> list[Row]:
        return [row for group in self.groups for row in group.rows]

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
                autofocus=self.focused,
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
        inner = [f for form in self.parts.nested for f in (form.type_field, *form.parts.fields)]
        return (
            self.head_fields()
            + [self.error_field()]
            + self.fields
            + inner
            + [f for row in self.rows for f in row.fields]
        )

    def slots(self) -> list[str]:
        return [self.slot] + [f.slot for f in self.all_fields()] + [row.slot for row in self.rows]


def node_forms(definition: dict, pickers: Pickers | None = None) -> list[NodeForm]:
    """Every node's form; ``pickers`` (the signed-in user's choices) turn the fields that
    pick a provider, a model or a workflow into selects."""
    nodes = definition.get("nodes") if isinstance(definition.get("nodes"), list) else []
    references = References(definition)
    return [
        _node_form(index, node if isinstance(node, dict) else {}, references, pickers)
        for index, node in enumerate(nodes)
    ]


def _node_form(index: int, node: dict, references: References, pickers: Pickers | None) -> NodeForm:
    base = f"nodes[{index}]"
    kind = node.get("type") if isinstance(node.get("type"), str) else ""
    config = node.get("config") if isinstance(node.get("config"), dict) else {}
    info = describe(kind)
    parts = _parts(base, kind, config, pickers=pickers)
    extra = {
        "node": {k: v for k, v in node.items() if k not in ("id", "type", "name", "config", "on_error")},
        "config": {k: v for k, v in config.items() if k not in parts.known},
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
        parts=parts,
        hidden=hidden,
        references=references.of(node.get("id")),
        variant=variant_of(info, config) if info else None,
    )


def _parts(node_path: str, kind: str, config: dict, key_prefix: str = "", pickers: Pickers | None = None) -> Parts:
    """The form of a node's config at ``node_path`` (``nodes[1]``, or a map's inner
    ``nodes[1].config.node``), all from the node type's declared options."""
    info = describe(kind)
    variant = variant_of(info, config) if info else None
    fields = [_variant_field(node_path, info, variant)] if info and info.variants else []
    specs = specs_for(kind, config)
    base = f"{node_path}.config"
    fields += [_picked(_form_field(base, spec, config.get(spec.key, MISSING)), pickers, config) for spec in specs]
    groups = [_row_group(node_path, option, config.get(option.key), key_prefix) for option in row_options(kind, config)]
    runs = next((config.get(spec.key) for spec in specs if spec.suggest == "workflows"), None)
    if pickers is not None and runs:  # a workflow node: its inputs are what the picked workflow takes
        groups = [_taking(group, pickers.inputs_of(runs)) if group.kind == "templates" else group for group in groups]
    nested = [
        _inner_form(node_path, option, config.get(option.key), pickers) for option in nested_options(kind, config)
    ]
    known = {spec.key for spec in specs} | {group.key.rpartition(".")[2] for group in groups}
    known |= {form.path.rpartition(".")[2] for form in nested}
    if info and info.variants:
        known.add(info.variants.key)
        if not info.variants.stored:  # the option that marks each shape: the form switches between them
            known |= {option.key for option in info.options if option.required and option.when}
    return Parts(fields, groups, nested, known)


def _picked(field: FormField, pickers: Pickers | None, config: dict) -> FormField:
    """A field that picks a provider, a model or a workflow, as a select of what the user
    can pick (a change of provider or workflow redraws: the models or inputs follow)."""
    offered = pickers.choices(field.suggest, field.value, config) if pickers and field.suggest else None
    if offered is None:
        return field
    return replace(field, kind="select", choices=offered, structural=field.suggest != "models")


def _taking(group: RowGroup, fields: tuple[InputField, ...] | None) -> RowGroup:
    """A workflow node's inputs, with what the picked workflow takes said above them."""
    if not fields:
        return group
    said = ", ".join(f"{f.name} ({f.type}{', required' if f.required else ''})" for f in fields)
    return replace(group, help=f"It takes: {said}. Each input is a template.")


def _inner_form(node_path: str, option: Option, inner: Any, pickers: Pickers | None = None) -> InnerForm:
    path = f"{node_path}.config.{option.key}"
    inner = inner if isinstance(inner, dict) else {}
    kind = inner.get("type") if isinstance(inner.get("type"), str) else option.values[0]
    config = inner.get("config") if isinstance(inner.get("config"), dict) else {}
    type_choices = tuple((info.name, info.label) for info in map(describe, option.values) if info)
    type_field = FormField(
        f"{path}.type",
        "Node type",
        "select",
        kind,
        choices=type_choices,
        structural=True,
        problem_paths=(f"{path}.type",),
    )
    return InnerForm(
        path=path,
        label=option.label,
        help=option.help,
        type_field=type_field,
        parts=_parts(path, kind, config, key_prefix=f"{option.key}.", pickers=pickers),
        hidden={f"{path}._keys": json.dumps(sorted(config))},
    )


def _variant_field(base: str, info, variant: str) -> FormField:
    """The select that picks a node's variant (a processing operation, an output's
    shape): stored in the config, or a form-only choice the options follow."""
    variants = info.variants
    name = f"{base}.config.{variants.key}" if variants.stored else f"{base}.{variants.key}"
    options = tuple((c.value, c.title) for c in variants.choices)
    if variant not in variants.values:
        options = ((variant, f"{variant} (unknown)"), *options)
    chosen = variants.choice(variant)
    return FormField(
        name,
        variants.label,
        "select",
        variant,
        choices=options,
        help=(chosen.help if chosen else "") or variants.help,
        structural=True,
        problem_paths=(name,),
    )


def _row_group(node_path: str, option: Option, value: Any, key_prefix: str = "") -> RowGroup:
    prefix = f"{node_path}.config.{option.key}"
    if option.kind == "fields":
        rows = _declaration_rows(prefix, option, value)
    else:
        rows = _named_rows(prefix, value)
    return RowGroup(key_prefix + option.key, option.label, option.kind, rows, option.help)


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
    if kind == "tools":  # a list edited as JSON text
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)
    if kind == "separator" and isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _declaration_rows(prefix: str, option: Option, declared: Any) -> list[Row]:
    """A list of declarations (an input's fields), a row each, drawn from the option's items."""
    rows, specs = [], item_specs(option)
    for index, spec_value in enumerate(declared if isinstance(declared, list) else []):
        item = spec_value if isinstance(spec_value, dict) else {}
        path = f"{prefix}[{index}]"
        form_fields = []
        for spec in specs:
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
        extra = {k: v for k, v in item.items() if k not in {spec.key for spec in specs}}
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


def _named_rows(prefix: str, mapping: Any) -> list[Row]:
    """An object of name → template at ``prefix``, as rows (output ``fields``, merge ``values``)."""
    rows = []
    items = list(mapping.items()) if isinstance(mapping, dict) else []
    for index, (name, template) in enumerate(items):
        path = f"{prefix}[{index}]"
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
                        problem_paths=(f"{path}.template", f"{prefix}.{name}"),
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
    rank = _flow_rank(definition, rows)
    # Listed in the order the flow runs; each row keeps its index, so reading it back keeps the definition's order.
    return sorted(
        rows, key=lambda row: (rank.get(row["from"], len(rank)), rank.get(row["to"], len(rank)), row["index"])
    )


def _flow_rank(definition: dict, rows: list[dict]) -> dict[str, int]:
    """Each node id's place in the flow (upstream first; ties and cycles in definition order)."""
    nodes = definition.get("nodes") or []
    ids = list(dict.fromkeys(n.get("id") for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str)))
    waiting = {node_id: 0 for node_id in ids}  # an id given twice (a draft being typed) is ranked once
    for row in rows:
        if row["from"] in waiting and row["to"] in waiting and row["from"] != row["to"]:
            waiting[row["to"]] += 1
    rank: dict[str, int] = {}
    while len(rank) < len(ids):
        ready = [node_id for node_id in ids if node_id not in rank and waiting[node_id] == 0]
        for node_id in ready or [next(node_id for node_id in ids if node_id not in rank)]:  # a cycle: take the next
            rank[node_id] = len(rank)
            for row in rows:
                if row["from"] == node_id and row["to"] in waiting and row["to"] not in rank:
                    waiting[row["to"]] -= 1
    return rank


def connection_slots(definition: dict) -> list[str]:
    slots = ["pb-connections"]
    for row in connection_rows(definition):
        base = row["path"]
        slots += ["pb-" + css_id(base)] + ["pb-" + css_id(f"{base}.{end}") for end in ("from", "to", "branch")]
    return slots


def place_problems(
    problems: list[Problem], forms: list[NodeForm], definition: dict, slots: dict[str, str] | None = None
) -> tuple[dict, list]:
    """(slot id → messages, problems with no field of their own). A problem goes to
    the field whose path it names, else to the nearest enclosing row or node."""
    slots = slots if slots is not None else problem_slots(forms, definition)
    placed: dict[str, list[str]] = {}
    loose = []
    for problem in problems:
        slot = slot_of(problem.path, slots)
        if slot:
            placed.setdefault(slot, []).append(problem.message)
        else:
            loose.append(problem)
    return placed, loose


def problem_slots(forms: list[NodeForm], definition: dict) -> dict[str, str]:
    """Path → the id of the slot its problems are shown in."""
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
    return slots


def slot_of(path: str, slots: dict[str, str]) -> str | None:
    """The slot for ``path``: its own, else the nearest enclosing one's."""
    while path and path not in slots:
        match = _LAST_SEGMENT.match(path)
        path = match.group(1) if match else ""
    return slots[path] if path else None
