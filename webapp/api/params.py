"""Reading request bodies and query strings, with a 4xx envelope for anything off."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from ..errors import BadRequest, ServiceError


MAX_OFFSET = 1_000_000_000  # keeps OFFSET inside every database's integer range


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
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object")
    return body


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer, not {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise BadRequest(f"'{name}' must be {bounds}")
    return value


def bool_arg(name: str, default: bool = False) -> bool:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise BadRequest(f"'{name}' must be true or false, not {raw!r}")


def choice_arg(name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise BadRequest(f"'{name}' must be one of {', '.join(choices)}")
    return raw


def page() -> tuple[int, int]:
    """``limit`` 1–100 (default 20) and ``offset`` ≥ 0, as SPEC.md fixes."""
    return int_arg("limit", 20, minimum=1, maximum=100), int_arg("offset", 0, minimum=0, maximum=MAX_OFFSET)


def paginated(key: str, items: list[Any], total: int, offset: int) -> dict:
    return {key: items, "total": total, "has_more": offset + len(items) < total}
