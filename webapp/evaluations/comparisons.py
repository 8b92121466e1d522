"""The checks that compare an output with what the case expects, computed in a sandbox.

Every check but ``judge`` is scored here, all of a case's in one call
(``SandboxPool.call(COMPARE, …)``): a user's regular expression or JSON Schema can
backtrack for ever (``(a+)+$`` on forty "a" and a "b"), and only a sandbox process has a
memory cap and a deadline it is killed at. Each check answers ``(passed, detail, error)``:
``detail`` says why in one short line, quoting the values clipped; ``error`` means no
verdict could be had (a pattern that timed out) and makes the case ``error``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from ..engine.isolation import sandboxed
from ..engine.patterns import MATCH_TIMEOUT, PatternError, search
from .kinds import CheckKind

COMPARE = "evaluations.compare"  # the name the sandbox knows ``compare`` by
QUOTE_CHARS = 120  # how much of a value a detail quotes
_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")  # "12", "-3.5", "1e3": no "nan", "1_0"

Verdict = tuple[bool, str, bool]  # (passed, detail, error)


@sandboxed(COMPARE)
def compare(payload: dict) -> list[Verdict]:
    """``payload``: ``{"checks": [check…], "outputs": {name: value}}``, every check's output
    among ``outputs``. One verdict per check, in order; a check that breaks is an error of
    its own, not of the others."""
    outputs = payload["outputs"]
    verdicts = []
    for check in payload["checks"]:
        try:
            verdicts.append(COMPARISONS[check["kind"]](check, outputs[check["output"]]))
        except MemoryError:
            raise
        except Exception as exc:  # one broken check must not hide the others' verdicts
            verdicts.append((False, clip(f"could not be checked: {type(exc).__name__}: {exc}", 300), True))
    return verdicts


# -- the comparisons ---------------------------------------------------------------------------


def equals(check: dict, actual: Any) -> Verdict:
    expected = check["value"]
    if same_json(expected, actual):
        return True, f"equals {quote(expected)}", False
    return False, f"expected {quote(expected)}, got {quote(actual)}", False


def contains(check: dict, actual: Any) -> Verdict:
    wanted, text = check["value"], as_text(actual)
    at = text.find(wanted)
    if at >= 0:
        return True, f"{quote(wanted)} found at character {at} of {quote(text)}", False
    return False, f"{quote(wanted)} not found in {quote(text)}", False


def not_contains(check: dict, actual: Any) -> Verdict:
    found, detail, error = contains(check, actual)
    return not found, detail, error


def matches(check: dict, actual: Any) -> Verdict:
    pattern, text = check["pattern"], as_text(actual)
    try:
        match = search(pattern, text)
    except TimeoutError:
        return False, f"the pattern took longer than {MATCH_TIMEOUT:g} s on {quote(text)}: no verdict", True
    except PatternError as exc:
        return False, clip(f"the pattern cannot be used: {exc}", 300), True
    if match is None:
        return False, f"no match for /{clip(pattern, 60)}/ in {quote(text)}", False
    return True, f"/{clip(pattern, 60)}/ matched {quote(match.group())} at character {match.start()}", False


def conforms(check: dict, actual: Any) -> Verdict:
    from .json_schemas import SchemaUnusable, schema_failure

    try:
        failure = schema_failure(check["schema"], actual)
    except SchemaUnusable as exc:
        return False, f"{exc}: no verdict", True
    if failure is None:
        return True, "conforms to the schema", False
    return False, failure, False


def between(check: dict, actual: Any) -> Verdict:
    low, high = check.get("min"), check.get("max")
    number = as_number(actual)
    if number is None:
        return False, f"expected a number, got {quote(actual)}", False
    shown = quote(actual)
    if low is not None and number < low:
        return False, f"{shown} is below the minimum {low}", False
    if high is not None and number > high:
        return False, f"{shown} is above the maximum {high}", False
    if low is not None and high is not None:
        return True, f"{shown} is between {low} and {high}", False
    return True, f"{shown} is at least {low}" if low is not None else f"{shown} is at most {high}", False


def max_length(check: dict, actual: Any) -> Verdict:
    limit = check["value"]
    if isinstance(actual, list):
        size, unit = len(actual), "items"
    else:
        size, unit = len(as_text(actual)), "characters"
    if size <= limit:
        return True, f"{size:,} {unit}, at most {limit:,}", False
    return False, f"{size:,} {unit}, more than {limit:,}", False


COMPARISONS: dict[str, Callable[[dict, Any], Verdict]] = {
    CheckKind.EQUALS: equals,
    CheckKind.CONTAINS: contains,
    CheckKind.NOT_CONTAINS: not_contains,
    CheckKind.MATCHES: matches,
    CheckKind.JSON_SCHEMA: conforms,
    CheckKind.BETWEEN: between,
    CheckKind.MAX_LENGTH: max_length,
}


# -- values as checks read them -----------------------------------------------------------------


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: 1 equals 1.0; "1" is not 1, and true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def as_text(value: Any) -> str:
    """A string as it is; anything else as compact JSON (``null``, ``[1,2]``, ``{"a":1}``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def as_number(value: Any) -> float | int | None:
    """A JSON number, or a string that reads as one; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    return None


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``value`` as JSON text (a string in quotes), clipped to ``limit`` characters."""
    if isinstance(value, str):
        value = value[:limit]  # a long output is not written out whole to show its start
    return clip(json.dumps(value, ensure_ascii=False, separators=(",", ":")), limit)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
