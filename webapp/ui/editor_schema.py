"""What the editor knows about each node type, derived from the engine's catalogue
(``engine/node_types.py``): the options of a config as form fields (``Spec``), the
options drawn as rows (``RowKind``), what a new node starts as, and what a template
may refer to.

One spec per option drives both the drawn form (``node_forms.py``) and the reading of
a posted one (``draft.py``), so the two never drift apart; and every spec comes from
the node type's own declaration, so the form cannot drift from the engine either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from ..engine import node_types
from ..engine.node_types import MISSING, NodeTypeInfo, Option

# An option's kind as a form element: most are drawn as they are named.
_FORM_KINDS = {"choice": "select", "boolean": "checkbox", "value": "typed", "values": "enum"}
ROW_KINDS = ("fields", "templates")  # options drawn as rows of their own, not as one field
NESTED_KINDS = ("node",)  # options drawn as a node inside the node (a map's inner node)


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
    suggest: str = ""  # the datalist it offers ("models", "workflows")

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


def spec_of(option: Option) -> Spec:
    return Spec(
        option.key,
        option.label,
        _FORM_KINDS.get(option.kind, option.kind),
        default=option.default,
        choices=tuple((choice.value, choice.title) for choice in option.choices),
        help=option.help,
        placeholder=option.placeholder,
        advanced=option.advanced,
        required=option.required,
        rows=option.rows,
        minimum=option.minimum,
        maximum=option.maximum,
        step="1" if option.kind == "integer" else "any",
        suggest=option.suggest,
    )


def choices(*values: str) -> tuple[tuple[str, str], ...]:
    return tuple((v, v) for v in values)


def node_type_names() -> tuple[str, ...]:
    return tuple(info.name for info in node_types.all_types())


def describe(kind: Any) -> NodeTypeInfo | None:
    return node_types.describe(kind) if isinstance(kind, str) else None


def variant_of(info: NodeTypeInfo, config: dict, chosen: str | None = None) -> str | None:
    """The variant a form shows: the one chosen on it, else the config's, else the first."""
    if info.variants is None:
        return None
    if chosen:
        return chosen
    return info.variant_of(config) or info.variants.choices[0].value


def options_for(kind: str, config: dict, chosen: str | None = None) -> tuple[Option, ...]:
    """The options a node of ``kind`` shows, for its variant (none for an unknown one)."""
    info = describe(kind)
    if info is None:
        return ()
    variant = variant_of(info, config, chosen)
    if info.variants is not None and variant not in info.variants.values:
        return ()
    return info.options_for(variant)


def specs_for(kind: str, config: dict, chosen: str | None = None) -> tuple[Spec, ...]:
    """The options of ``kind`` drawn as single fields (rows are drawn apart)."""
    apart = ROW_KINDS + NESTED_KINDS
    return tuple(spec_of(o) for o in options_for(kind, config, chosen) if o.kind not in apart)


def row_options(kind: str, config: dict, chosen: str | None = None) -> tuple[Option, ...]:
    return tuple(o for o in options_for(kind, config, chosen) if o.kind in ROW_KINDS)


def nested_options(kind: str, config: dict, chosen: str | None = None) -> tuple[Option, ...]:
    return tuple(o for o in options_for(kind, config, chosen) if o.kind in NESTED_KINDS)


def item_specs(option: Option) -> tuple[Spec, ...]:
    return tuple(spec_of(item) for item in option.items)


def css_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-")


BRANCH_CHOICES = (("", "always"), *tuple((b, b) for b in node_types.BRANCHES))


def node_ids(definition: dict) -> list[str]:
    nodes = definition.get("nodes") if isinstance(definition.get("nodes"), list) else []
    return [n["id"] for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str) and n["id"]]


def references_for(definition: dict, node_id: Any) -> list[str]:
    """``node.field`` names a template in ``node_id`` may use: the outputs of every
    node upstream of it, following the connections as drawn."""
    return References(definition).of(node_id)


class References:
    """``references_for`` of every node of one draft: the connections and each node's
    outputs read once (per node they made drawing a draft's forms nodes × connections)."""

    def __init__(self, definition: dict) -> None:
        raw = definition.get("nodes") or []
        self.nodes = {n["id"]: n for n in raw if isinstance(n, dict) and isinstance(n.get("id"), str)}
        self.parents: dict[str, set[str]] = {}
        for connection in definition.get("connections") or []:
            ends = (connection.get("from"), connection.get("to")) if isinstance(connection, dict) else (None, None)
            if all(isinstance(end, str) and end in self.nodes for end in ends):
                self.parents.setdefault(ends[1], set()).add(ends[0])
        self.outputs: dict[str, list[str]] = {}
        for node_id, node in self.nodes.items():
            info = describe(node.get("type"))
            config = node.get("config") if isinstance(node.get("config"), dict) else {}
            self.outputs[node_id] = [f"{node_id}.{name}" for name in info.outputs_for(config)] if info else []

    def of(self, node_id: Any) -> list[str]:
        if not isinstance(node_id, str) or node_id not in self.nodes:  # a draft's id may be anything, a list too
            return []
        upstream, stack = set(), list(self.parents.get(node_id, ()))
        while stack:
            current = stack.pop()
            if current not in upstream and current != node_id:
                upstream.add(current)
                stack.extend(self.parents.get(current, ()))
        return [name for ancestor in self.nodes if ancestor in upstream for name in self.outputs[ancestor]]
