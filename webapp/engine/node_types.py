"""The public catalogue of node types: what the UI and the API know about them.

Each node type describes itself once, on its class (``nodes/``); this module hands
those descriptions out, with the facts of the definition format around them (node
ids, branches, error handling). The editor's forms, the API's schemas, validation
and every label and colour are derived from here, so a new node type is one new
engine module and nothing outside the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from .definition import BRANCHES, NODE_ID, ON_ERROR, RESERVED_IDS, Size
from .nodes import NodeType, node_type, type_names
from .nodes.input import FIELD_NAME
from .options import KINDS, MISSING, Choice, Option, Variants

__all__ = [
    "BRANCHES",
    "FIELD_NAME",
    "KINDS",
    "MISSING",
    "NODE_ID",
    "ON_ERROR",
    "RESERVED_IDS",
    "Choice",
    "NodeTypeInfo",
    "Option",
    "Size",
    "Variants",
    "all_types",
    "describe",
]


@dataclass(frozen=True)
class NodeTypeInfo:
    """One node type as the UI and the API see it (a view of its class)."""

    _cls: type[NodeType]

    name: str = ""
    label: str = ""
    summary: str = ""
    colour: str = ""
    options: tuple[Option, ...] = ()
    variants: Variants | None = None
    starter: dict | None = None
    starter_id: str = ""
    fed_by: str | None = None
    takes_input: bool = True
    branches: tuple[str, ...] = ()

    @classmethod
    def of(cls, node_class: type[NodeType]) -> NodeTypeInfo:
        return cls(
            node_class,
            name=node_class.type_name,
            label=node_class.label,
            summary=node_class.summary,
            colour=node_class.colour,
            options=node_class.options,
            variants=node_class.variants,
            starter=node_class.starter,
            starter_id=node_class.starter_id,
            fed_by=node_class.fed_by,
            takes_input=node_class.takes_input,
            branches=node_class.branches,
        )

    def variant_of(self, config: dict) -> str | None:
        return self._cls.variant_of(config)

    def options_for(self, variant: str | None) -> tuple[Option, ...]:
        return self._cls.options_for(variant)

    def outputs_for(self, config: dict) -> tuple[str, ...]:
        return self._cls.outputs_for(config)

    def lists_for(self, config: dict) -> tuple[str, ...]:
        return self._cls.lists_for(config)

    @property
    def always_required(self) -> tuple[str, ...]:
        """Options every config of this type must give, whatever its variant."""
        required = [self.variants.key] if self.variants and self.variants.stored else []
        return (*required, *(o.key for o in self.options if o.required and o.when is None))


def all_types() -> list[NodeTypeInfo]:
    """Every registered node type, in registration order."""
    return [NodeTypeInfo.of(node_type(name)) for name in type_names()]


def describe(name: str) -> NodeTypeInfo | None:
    node_class = node_type(name) if isinstance(name, str) else None
    return NodeTypeInfo.of(node_class) if node_class else None
