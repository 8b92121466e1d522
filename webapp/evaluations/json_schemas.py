"""JSON Schemas a test case holds: checked where they are written, applied in a sandbox.

One place for the rules both sides share: which draft a schema is read as (its
``$schema``, else 2020-12), that every regular expression in it (``pattern``, the keys of
``patternProperties``) is within the pattern bounds (``engine/patterns.py``), and that no
``$ref`` is ever fetched from elsewhere (the ``jsonschema`` library would fetch an
``http`` one by default: a request to any address, from a sandbox). Applying a schema
runs its patterns through ``patterns.search``, which gives up after ``MATCH_TIMEOUT``;
what else may take long is bounded by the sandbox's own time.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from ..engine.patterns import PatternError, pattern_problem, search

DEFAULT_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_DATA_KEYWORDS = frozenset({"const", "enum", "examples", "default"})  # values, not schemas
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
MAX_FAILURE_CHARS = 300  # a failure's message quotes the value: clipped


class SchemaUnusable(Exception):
    """The schema could not be applied to this value (a pattern that took too long, a
    ``$ref`` to nowhere): no verdict."""


def schema_problem(schema: dict) -> str | None:
    """Why ``schema`` is not a JSON Schema this server applies, or None."""
    for pattern in patterns_in(schema):
        problem = pattern_problem(pattern)
        if problem is not None:
            return f"the pattern {_clip(pattern, 60)!r} is not allowed: {problem}"
    from jsonschema.exceptions import SchemaError

    validator = validator_class(schema)
    if validator is None:
        return "'$schema' names no JSON Schema draft this server knows (draft 3 to 2020-12)"
    try:
        validator.check_schema(schema)
    except SchemaError as exc:
        where = "".join(f"[{part!r}]" for part in exc.path)
        return _clip(f"not a valid JSON Schema: {exc.message}" + (f" (at {where})" if where else ""))
    except RecursionError:
        return "the schema is nested too deeply"
    return None


def validator_class(schema: dict):
    """The ``jsonschema`` validator class for ``schema``'s draft, or None for an unknown one."""
    from jsonschema.validators import Draft202012Validator, validator_for

    named = schema.get("$schema")
    if named is None:
        return Draft202012Validator
    if not isinstance(named, str):
        return None
    return validator_for(schema, default=None)


def schema_failure(schema: dict, value: Any) -> str | None:
    """Why ``value`` does not conform to ``schema`` (the most relevant error, where it is),
    or None. ``SchemaUnusable`` when no verdict can be had."""
    from jsonschema.exceptions import best_match
    from referencing import Registry
    from referencing.exceptions import Unresolvable

    kind = validator_class(schema)
    if kind is None:
        raise SchemaUnusable("'$schema' names no JSON Schema draft this server knows")
    bounded = _with_bounded_patterns(kind)
    validator = bounded(schema, registry=Registry(), format_checker=kind.FORMAT_CHECKER)  # no remote $ref
    try:
        error = best_match(validator.iter_errors(value))
    except Unresolvable as exc:
        raise SchemaUnusable(_clip(f"the schema's $ref cannot be resolved here: {exc}")) from None
    except RecursionError:
        raise SchemaUnusable("the schema refers to itself without end") from None
    if error is None:
        return None
    return _clip(f"{error.message} (at {error.json_path})")


def patterns_in(schema: Any) -> Iterator[str]:
    """Every regular expression in the schema: ``pattern`` values and ``patternProperties``
    keys, wherever a schema may stand (not inside ``const``, ``enum``… which are values)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key in _DATA_KEYWORDS:
                    continue
                if key == "pattern" and isinstance(value, str):
                    yield value
                elif key in _NAMED_SCHEMAS and isinstance(value, dict):
                    if key == "patternProperties":
                        yield from value
                    stack.extend(value.values())  # keys are names: a property may be called "pattern"
                else:
                    stack.append(value)


@functools.cache
def _with_bounded_patterns(kind):
    """``kind`` with ``pattern`` and ``patternProperties`` matched by ``patterns.search``
    (bounded, with a timeout) instead of Python's ``re``."""
    from jsonschema import validators
    from jsonschema.exceptions import ValidationError

    def pattern(validator, expected: str, instance, schema):
        if validator.is_type(instance, "string") and _search(expected, instance) is None:
            yield ValidationError(f"{_clip(instance, 80)!r} does not match {_clip(expected, 80)!r}")

    def pattern_properties(validator, expected: dict, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        for source, subschema in expected.items():
            for key, item in instance.items():
                if _search(source, key) is not None:
                    yield from validator.descend(item, subschema, path=key, schema_path=source)

    return validators.extend(kind, {"pattern": pattern, "patternProperties": pattern_properties})


def _search(source: str, text: str):
    try:
        return search(source, text)
    except TimeoutError:
        raise SchemaUnusable(f"the schema's pattern {_clip(source, 60)!r} took too long on this value") from None
    except PatternError as exc:
        raise SchemaUnusable(f"the schema's pattern {_clip(source, 60)!r} cannot be used: {exc}") from None


def _clip(text: str, limit: int = MAX_FAILURE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
