"""``processing``: deterministic transformations between model calls.

Each operation is a small function registered in ``OPERATIONS`` with the options it
reads; ``input`` (a template) gives the value operated on, except for ``template``
and ``merge``, which build their value from templates of their own.
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
import regex

from ..errors import NodeError
from .ai_model import parse_model_json
from .base import ConfigReader, NodeOutcome, NodeType, RunContext, as_text

REGEX_TIMEOUT = 1.0  # seconds; a pathological pattern fails instead of hanging a worker
SANITIZE_DEFAULT_LENGTH = 10_000
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Operation:
    apply: Callable[[Any, dict], Any]
    configure: Callable[[ConfigReader], dict] = lambda reader: {}
    takes_input: bool = True


def _configure_extract(reader: ConfigReader) -> dict:
    path = reader.string("path", required=True)
    return {"path": [part for part in (path or "").split(".") if part]}


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


def _configure_regex(reader: ConfigReader) -> dict:
    pattern, compiled = reader.string("pattern", required=True), None
    if pattern:
        try:
            compiled = regex.compile(pattern)
        except regex.error as exc:
            reader.problem("pattern", "syntax_error", f"invalid regular expression: {exc}")
    group = reader.raw("group", default=0)
    if isinstance(group, bool) or not isinstance(group, (int, str)):
        reader.problem("group", "invalid_value", "'group' must be a group number or name")
        group = 0
    return {"pattern": compiled, "group": group}


def _regex_extract(value: Any, options: dict) -> Any:
    try:
        match = options["pattern"].search(as_text(value), timeout=REGEX_TIMEOUT)
    except TimeoutError:
        raise NodeError("regex_timeout", f"the pattern took longer than {REGEX_TIMEOUT:g} s") from None
    if match is None:
        return None
    try:
        return match.group(options["group"])
    except (IndexError, regex.error):
        raise NodeError("invalid_value", f"the pattern has no group {options['group']!r}") from None


def _configure_separator(reader: ConfigReader) -> dict:
    separator = reader.string("separator", default="\n")
    return {"separator": separator}


def _split(value: Any, options: dict) -> list[str]:
    if not options["separator"]:
        return list(as_text(value))
    return as_text(value).split(options["separator"])


def _join(value: Any, options: dict) -> str:
    if not isinstance(value, list):
        raise NodeError("invalid_value", f"join needs a list, got {type(value).__name__}")
    return options["separator"].join(as_text(item) for item in value)


def _configure_truncate(reader: ConfigReader) -> dict:
    return {"length": reader.integer("length", required=True, minimum=0)}


def _truncate(value: Any, options: dict) -> Any:
    return value[: options["length"]] if isinstance(value, list) else as_text(value)[: options["length"]]


def _json_parse(value: Any, options: dict) -> Any:
    if isinstance(value, (dict, list)):
        return value
    return parse_model_json(as_text(value))


def _configure_sanitize(reader: ConfigReader) -> dict:
    return {"max_length": reader.integer("max_length", default=SANITIZE_DEFAULT_LENGTH, minimum=1)}


def sanitize(text: str, max_length: int = SANITIZE_DEFAULT_LENGTH) -> str:
    """Plain text from untrusted HTML: tags (and script/style bodies) dropped, entities
    decoded, control and format characters removed, whitespace collapsed, length capped."""
    text = html.unescape(nh3.clean(text, tags=set()))
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return _WHITESPACE.sub(" ", text).strip()[:max_length]


def _configure_template(reader: ConfigReader) -> dict:
    return {"template": reader.template("template", required=True)}


def _configure_merge(reader: ConfigReader) -> dict:
    return {"values": reader.templates("values", required=True)}


OPERATIONS: dict[str, Operation] = {
    "template": Operation(apply=None, configure=_configure_template, takes_input=False),
    "merge": Operation(apply=None, configure=_configure_merge, takes_input=False),
    "json_parse": Operation(_json_parse),
    "extract": Operation(_extract, _configure_extract),
    "regex_extract": Operation(_regex_extract, _configure_regex),
    "split": Operation(_split, _configure_separator),
    "join": Operation(_join, _configure_separator),
    "truncate": Operation(_truncate, _configure_truncate),
    "lowercase": Operation(lambda value, options: as_text(value).lower()),
    "uppercase": Operation(lambda value, options: as_text(value).upper()),
    "strip": Operation(lambda value, options: as_text(value).strip()),
    "word_count": Operation(lambda value, options: len(as_text(value).split())),
    "sanitize": Operation(lambda value, options: sanitize(as_text(value), options["max_length"]), _configure_sanitize),
}


class ProcessingNode(NodeType):
    type_name = "processing"

    def configure(self, reader: ConfigReader) -> None:
        self.operation = reader.string("operation", required=True, choices=tuple(OPERATIONS))
        spec = OPERATIONS.get(self.operation)
        if spec is None:
            return
        self.input = reader.template("input", required=spec.takes_input) if spec.takes_input else None
        self.options = spec.configure(reader)

    def run(self, ctx: RunContext) -> NodeOutcome:
        if self.operation == "template":
            value = self.evaluate(self.options["template"], ctx)
            return NodeOutcome(output={"value": value}, input=None)
        if self.operation == "merge":
            value = {name: self.evaluate(t, ctx) for name, t in self.options["values"].items()}
            return NodeOutcome(output={"value": value}, input=None)
        seen = self.evaluate(self.input, ctx)
        value = OPERATIONS[self.operation].apply(seen, self.options)
        return NodeOutcome(output={"value": value}, input=seen)
