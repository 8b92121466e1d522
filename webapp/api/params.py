"""Reading a request body as JSON, with a 4xx envelope for anything off; and a page of a listing."""

from __future__ import annotations

import json
import math
from typing import Any

from flask import request

from ..engine.errors import Problem
from ..engine.jsontext import LONE_SURROGATE, SURROGATE_MESSAGE
from ..errors import BadRequest, ServiceError, ValidationFailed

# Deeper bodies are refused before anything recursive (validation, serialisation)
# walks them; no workflow definition or input needs a tenth of this.
MAX_JSON_DEPTH = 100
MAX_NUL_PROBLEMS = 20


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


def json_body(*, optional: bool = False) -> dict:
    """The body as a JSON object. An empty body is ``{}`` where ``optional``."""
    raw = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    if not raw.strip():
        if optional:
            return {}
        raise BadRequest("A JSON object body is required")
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(f"The body is nested more than {MAX_JSON_DEPTH} levels deep") from None
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object")
    _check_values(body)
    return body


def _refuse_constant(name: str) -> Any:
    """Python's json reads NaN and Infinity; JSON (and PostgreSQL's jsonb) has neither."""
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 reads as inf
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _check_values(body: dict) -> None:
    """Refuse what no database column can hold: NUL characters (PostgreSQL text and
    jsonb refuse them), lone surrogates, and nesting deep enough to exhaust recursion
    later on."""
    problems: list[Problem] = []
    stack: list[tuple[Any, str, int]] = [(body, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            _refuse_lone_surrogate(value, f"'{path}'" if path else "the body")
            if "\x00" in value:
                problems.append(Problem(path, "invalid_value", "must not contain NUL (\\u0000) characters"))
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(f"The body is nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(value, list):
            stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))
            continue
        for key, item in value.items():
            _refuse_lone_surrogate(key, f"a name in '{path}'" if path else "a name")
            where = f"{path}.{key}" if path else key
            if "\x00" in key:
                where = where.replace("\x00", "\\u0000")
                problems.append(Problem(where, "invalid_value", "names must not contain NUL (\\u0000) characters"))
            stack.append((item, where, depth + 1))
    if problems:
        problems.sort(key=lambda p: p.path)
        raise ValidationFailed("Request body is invalid", problems[:MAX_NUL_PROBLEMS])


def _refuse_lone_surrogate(text: str, where: str) -> None:
    """400, not 422: such a body is not well-formed text, whatever it means."""
    if LONE_SURROGATE.search(text):
        raise BadRequest(f"The body is not text: {where} holds {SURROGATE_MESSAGE}")


def paginated(key: str, items: list[Any], total: int, offset: int) -> dict:
    return {key: items, "total": total, "has_more": offset + len(items) < total}
