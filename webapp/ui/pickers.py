"""What the editor's pickers offer a signed-in user: a node's provider among theirs, its
model among the chosen provider's (or the server's), and the workflow a ``workflow``
node runs among those they may read — with that workflow's input fields, which the
node's inputs are filled from.

An option says which picker it takes (``Option.suggest``); ``node_forms`` asks
``choices`` for each such field and draws a select. A value the user cannot pick (a
provider since deleted, a workflow gone private) stays, marked, so a redraw never
changes a draft behind its owner's back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class InputField:
    name: str
    type: str
    required: bool

    @property
    def label(self) -> str:
        """``text: string*``: a tool's parameter or a sub-workflow's input, as the editor lists it."""
        return f"{self.name}: {self.type}{'*' if self.required else ''}"


class Readable:
    """A workflow the user may run from another one; its input fields are read only when
    asked for (each costs loading its definition)."""

    def __init__(self, workflow) -> None:
        self.id, self.name, self._workflow = workflow.id, workflow.name, workflow

    @cached_property
    def fields(self) -> tuple[InputField, ...]:
        return input_fields(self._workflow.definition)

    @property
    def parameters(self) -> tuple[str, ...]:
        """What an agent's tool on it takes, as the editor lists it."""
        return tuple(f.label for f in self.fields)


def input_fields(definition: Any) -> tuple[InputField, ...]:
    """The fields of a definition's input node (a field with a default is not required)."""
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    source = next((n for n in nodes or [] if isinstance(n, dict) and n.get("type") == "input"), None)
    declared = ((source or {}).get("config") or {}).get("fields")
    found = []
    for f in declared if isinstance(declared, list) else []:
        if isinstance(f, dict) and isinstance(f.get("name"), str) and f["name"]:
            required = bool(f.get("required")) and f.get("default") is None
            found.append(InputField(f["name"], str(f.get("type") or "string"), required))
    return tuple(found)


@dataclass
class Pickers:
    models: list[str]  # the server's
    providers: dict[str, tuple[str, ...]]  # the user's, by name: the models each lists
    workflows: dict[str, Readable] = field(default_factory=dict)  # by id, this one left out

    def choices(self, picker: str, value: str, config: dict) -> tuple[tuple[str, str], ...] | None:
        """The select a field of ``picker`` kind is drawn as, ``value`` among them; None
        where there is nothing to pick from (a provider that lists no model): free text."""
        if picker == "providers":
            offered = [("", "Server default"), *((name, name) for name in self.providers)]
        elif picker == "models":
            provider = config.get("provider")
            if provider and not isinstance(provider, str):
                return None
            listed = self.providers.get(provider) if provider else self.models
            if not listed:
                return None
            offered = [("", "Default model"), *((model, model) for model in listed)]
        elif picker == "workflows":
            offered = [("", "Pick a workflow…"), *((w.id, w.name) for w in self.workflows.values())]
        else:
            return None
        if not isinstance(value, str):
            return None  # not a name (the JSON tab can write anything): drawn as text, told by the validator
        if value and value not in {v for v, _ in offered}:
            offered.insert(1, (value, f"{value} (not one you can pick)"))
        return tuple(offered)

    def inputs_of(self, workflow_id: Any) -> tuple[InputField, ...] | None:
        found = self.workflows.get(workflow_id) if isinstance(workflow_id, str) else None
        return found.fields if found else None


def fill_inputs(definition: dict, pickers: Pickers) -> dict:
    """Each ``workflow`` node gets a row for every required input of the workflow it
    picked that it does not map yet (empty, to fill in): picking a workflow lists what
    it needs. Optional ones are listed beside the rows, not added."""
    for config in _workflow_configs(definition.get("nodes")):
        fields = pickers.inputs_of(config.get("workflow_id")) or ()
        mapped = config.get("inputs") if isinstance(config.get("inputs"), dict) else {}
        missing = {f.name: "" for f in fields if f.required and f.name not in mapped}
        if missing:
            config["inputs"] = {**mapped, **missing}
    return definition


def _workflow_configs(nodes: Any):
    """The config of every ``workflow`` node, a map's inner one included."""
    for node in nodes if isinstance(nodes, list) else []:
        config = node.get("config") if isinstance(node, dict) else None
        if not isinstance(config, dict):
            continue
        if node.get("type") == "workflow":
            yield config
        elif node.get("type") == "map":
            yield from _workflow_configs([config.get("node")])
