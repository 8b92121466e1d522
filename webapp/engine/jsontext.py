"""JSON that every store can hold: no lone UTF-16 surrogates, no NUL characters.

A JSON text may spell half of a surrogate pair alone (``"\\udfff"``); Python reads it
as a string no UTF-8 encoder, PostgreSQL ``jsonb`` or page can take. Refused where
JSON comes in (``loads`` here, the API's body check) and where a node's output is
made (``nodes/base.py``), so none is ever stored. A NUL (``"\\u0000"``) is refused by
``loads`` too: PostgreSQL's text and ``jsonb`` cannot hold it (the API's body check refuses
it with the path it was found at).
"""

from __future__ import annotations

import json
import re
from typing import Any

LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # a valid pair is one character once decoded
SURROGATE_MESSAGE = "a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text"


def holds_lone_surrogate(value: Any) -> bool:
    """Whether any string or key in ``value`` holds one."""
    return LONE_SURROGATE.search(json.dumps(value, ensure_ascii=False)) is not None


def loads(text: str | bytes, **options: Any) -> Any:
    """``json.loads`` that refuses lone surrogates, and nesting deeper than Python's
    parser goes, with a ``ValueError``, as it does bad syntax."""
    try:
        value = json.loads(text, **options)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    if isinstance(text, str) and "\\u" not in text and not LONE_SURROGATE.search(text):
        return value  # no escape and no raw surrogate: nothing to look for
    if holds_lone_surrogate(value):
        raise ValueError(f"the JSON holds {SURROGATE_MESSAGE}")
    if holds_nul(value):
        raise ValueError("the JSON holds a NUL character (\\u0000), which no store can hold")
    return value


def holds_nul(value: Any) -> bool:
    """Whether any string or key in ``value`` holds a NUL character."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
