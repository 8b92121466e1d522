"""How a node type declares the options of its config: once, on its class.

An ``Option`` says what a key holds (its kind), its bounds, default, label and help,
and for which variant of the node it applies (a processing ``operation``, an output's
shape). The engine reads and checks a config from these declarations
(``ConfigReader.read``); the editor draws its forms and the API its schemas from the
same declarations (``node_types.py``), so the three cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MISSING = object()  # an option with no default

# What an option's value is. The reader checks it, the editor draws it, the API describes it.
KINDS = {
    "text": "a string",
    "code": "a string shown in a monospace box (a regular expression)",
    "choice": "one of the option's choices",
    "separator": "a string; the editor writes \\n and \\t for a new line and a tab",
    "group": "a group number or name",
    "number": "a number within the bounds",
    "integer": "an integer within the bounds",
    "boolean": "true or false",
    "template": "a Jinja2 template (several lines)",
    "template_line": "a Jinja2 template (one line)",
    "expression": "a Jinja2 expression",
    "templates": "an object of name → template",
    "fields": "a list of input field declarations",
    "value": "a value of the input field's type",
    "values": "a non-empty list of values of the input field's type",
    "node": "one inner node: its type and config",
    "tools": "a list of an agent's tools: workflows or HTTP calls",
}


@dataclass(frozen=True, kw_only=True)
class Choice:
    value: str
    label: str = ""
    help: str = ""

    @property
    def title(self) -> str:
        return self.label or self.value


@dataclass(frozen=True, kw_only=True)
class Option:
    """One key of a node's config."""

    key: str
    kind: str
    label: str
    help: str = ""
    placeholder: str = ""
    required: bool = False
    default: Any = MISSING
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Choice, ...] = ()
    when: tuple[str, ...] | None = None  # the variants it applies to; None: every one
    advanced: bool = False  # tucked away in the editor
    rows: int = 3  # a multi-line template's height in the editor
    allow_empty: bool = False  # templates: an empty object is fine (headers)
    pattern: str | None = None  # text: a regular expression the value matches (checked by the type itself)
    suggest: str = ""  # text: what the editor offers to pick from ("models", "workflows")
    gives_list: bool = False  # templates: the value must be a list (a map's items)
    items: tuple[Option, ...] = ()  # fields: the options of each item

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option '{self.key}': unknown kind '{self.kind}'")

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(choice.value for choice in self.choices)

    def applies_to(self, variant: str | None) -> bool:
        return self.when is None or variant in self.when


def choices(*values: str) -> tuple[Choice, ...]:
    return tuple(Choice(value=value) for value in values)


@dataclass(frozen=True, kw_only=True)
class Variants:
    """A node type whose options depend on a choice: which one is made, and how it reads.

    ``stored``: the choice is itself a config key (a processing ``operation``);
    otherwise the editor offers it, and it is read from which options are present (an
    output's shape).
    """

    key: str
    label: str
    choices: tuple[Choice, ...]
    help: str = ""
    stored: bool = True

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(choice.value for choice in self.choices)

    def choice(self, value: str | None) -> Choice | None:
        return next((c for c in self.choices if c.value == value), None)
