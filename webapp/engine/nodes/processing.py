"""``processing``: deterministic transformations between model calls.

Each operation is a small function registered in ``OPERATIONS``; the options it
reads are declared on the node with ``when`` naming the operations they apply to.
``input`` (a template) gives the value operated on, except for ``template`` and
``merge``, which build their value from templates of their own.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nh3

from ..errors import NodeError
from ..options import Choice, Option, Variants
from ..patterns import MATCH_TIMEOUT, PatternError, pattern_problem, search
from .ai_model import parse_model_json
from .base import ConfigReader, NodeOutcome, NodeType, RunContext, as_text

SANITIZE_DEFAULT_LENGTH = 10_000
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Operation:
    help: str
    apply: Callable[[Any, dict], Any] | None = None  # None: the node builds the value itself
    prepare: Callable[[dict], dict] = lambda options: options  # options as read → as applied
    takes_input: bool = True
    may_give_list: bool = True  # False: always text, a number or null


def _prepare_extract(options: dict) -> dict:
    return {"path": [part for part in (options["path"] or "").split(".") if part]}


def _extract(value: Any, options: dict) -> Any:
    """Follow a dotted path through objects and lists; a missing step yields null."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    for step in options["path"]:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.lstrip("-").isdigit() and -len(value) <= int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def _regex_extract(value: Any, options: dict) -> Any:
    """Compiled and matched here, which is a sandbox process: the node is isolated."""
    try:
        match = search(options["pattern"], as_text(value))
    except PatternError as exc:
        raise NodeError("invalid_value", str(exc)) from None
    except TimeoutError:
        raise NodeError("regex_timeout", f"the pattern took longer than {MATCH_TIMEOUT:g} s") from None
    if match is None:
        return None
    try:
        return match.group(options["group"])
    except IndexError:
        raise NodeError("invalid_value", f"the pattern has no group {options['group']!r}") from None


def _split(value: Any, options: dict) -> list[str]:
    if not options["separator"]:
        return list(as_text(value))
    return as_text(value).split(options["separator"])


def _join(value: Any, options: dict) -> str:
    if not isinstance(value, list):
        raise NodeError("invalid_value", f"join needs a list, got {type(value).__name__}")
    return options["separator"].join(as_text(item) for item in value)


def _truncate(value: Any, options: dict) -> Any:
    return value[: options["length"]] if isinstance(value, list) else as_text(value)[: options["length"]]


def _json_parse(value: Any, options: dict) -> Any:
    if isinstance(value, (dict, list)):
        return value
    return parse_model_json(as_text(value))


def sanitize(text: str, max_length: int = SANITIZE_DEFAULT_LENGTH) -> str:
    """Plain text from untrusted HTML: tags (and script/style bodies) dropped, entities
    decoded, control and format characters removed, whitespace collapsed, length capped."""
    text = html.unescape(nh3.clean(text, tags=set()))
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return _WHITESPACE.sub(" ", text).strip()[:max_length]


def _text(change: Callable[[str], Any], help: str) -> Operation:
    return Operation(help, lambda value, options: change(as_text(value)), may_give_list=False)


OPERATIONS: dict[str, Operation] = {
    "template": Operation("Renders a template into a new value.", takes_input=False),
    "merge": Operation("Builds an object: each name gets a template's value.", takes_input=False),
    "json_parse": Operation("Parses JSON text (a Markdown code fence around it is fine).", _json_parse),
    "extract": Operation("Follows a dotted path into an object or list.", _extract, _prepare_extract),
    "regex_extract": Operation(
        "The first match of a regular expression (or one of its groups).", _regex_extract, may_give_list=False
    ),
    "split": Operation("Splits text into a list at each separator.", _split),
    "join": Operation("Joins a list into text with the separator between items.", _join, may_give_list=False),
    "truncate": Operation("Keeps the first N characters (or list items).", _truncate),
    "lowercase": _text(str.lower, "Lower-cases the text."),
    "uppercase": _text(str.upper, "Upper-cases the text."),
    "strip": _text(str.strip, "Removes whitespace at both ends."),
    "word_count": _text(lambda text: len(text.split()), "Counts the words."),
    "sanitize": Operation(
        "Drops HTML tags and control characters, collapses whitespace.",
        lambda value, options: sanitize(as_text(value), options["max_length"]),
        may_give_list=False,
    ),
}
_TAKE_INPUT = tuple(name for name, operation in OPERATIONS.items() if operation.takes_input)
_SEPARATOR_HELP = "\\n is a new line, \\t a tab."


class ProcessingNode(NodeType):
    type_name = "processing"
    label = "Processing"
    summary = "A deterministic step between model calls: parse, extract, split, join, reshape."
    colour = "#d97706"
    variants = Variants(
        key="operation",
        label="Operation",
        choices=tuple(Choice(value=name, help=operation.help) for name, operation in OPERATIONS.items()),
    )
    options = (
        Option(
            key="input",
            kind="template_line",
            label="Input",
            required=True,
            when=_TAKE_INPUT,
            placeholder="{{ node.field }}",
            help="The value operated on.",
        ),
        Option(key="template", kind="template", label="Template", rows=4, required=True, when=("template",)),
        Option(key="values", kind="templates", label="Values", required=True, when=("merge",)),
        Option(
            key="path",
            kind="text",
            label="Path",
            required=True,
            when=("extract",),
            placeholder="items.0.title",
            help="Dotted keys and list indexes.",
        ),
        Option(key="pattern", kind="code", label="Regular expression", required=True, when=("regex_extract",)),
        Option(
            key="group",
            kind="group",
            label="Group",
            default=0,
            when=("regex_extract",),
            placeholder="0",
            help="A group number or name; 0 is the whole match.",
        ),
        Option(
            key="separator",
            kind="separator",
            label="Separator",
            default="\n",
            when=("split", "join"),
            placeholder="\\n",
            help=_SEPARATOR_HELP,
        ),
        Option(key="length", kind="integer", label="Length", required=True, minimum=0, when=("truncate",)),
        Option(
            key="max_length",
            kind="integer",
            label="Maximum length",
            default=SANITIZE_DEFAULT_LENGTH,
            minimum=1,
            when=("sanitize",),
            placeholder=str(SANITIZE_DEFAULT_LENGTH),
        ),
    )
    outputs = ("value",)
    starter = {"operation": "template", "template": ""}
    starter_id = "step"
    fed_by = "template"

    @classmethod
    def lists_for(cls, config: dict) -> tuple[str, ...]:
        operation = OPERATIONS.get(cls.variant_of(config))
        return () if operation is not None and not operation.may_give_list else cls.outputs

    def configure(self, reader: ConfigReader) -> None:
        super().configure(reader)
        if self.variant == "regex_extract" and self.pattern:
            # Only its bounds are checked here (the web process): compiling waits for a sandbox.
            problem = pattern_problem(self.pattern)
            if problem is not None:
                reader.problem("pattern", problem.code, f"invalid regular expression: {problem}")
            reader.computes = True  # a pattern is code: matched where memory and time are capped
        if self.variant in OPERATIONS:
            read = {option.key: getattr(self, option.key) for option in self.options_for(self.variant)}
            self.applied = OPERATIONS[self.variant].prepare(read)

    def run(self, ctx: RunContext) -> NodeOutcome:
        if self.variant == "template":
            return NodeOutcome(output={"value": self.evaluate(self.template, ctx)}, input=None)
        if self.variant == "merge":
            value = {name: self.evaluate(t, ctx) for name, t in self.values.items()}
            return NodeOutcome(output={"value": value}, input=None)
        seen = self.evaluate(self.input, ctx)
        value = OPERATIONS[self.variant].apply(seen, self.applied)
        return NodeOutcome(output={"value": value}, input=seen)
