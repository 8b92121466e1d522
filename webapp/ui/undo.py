"""The editor's undo: the drafts before its last structural edits travel with the
form in one hidden field (compressed JSON), so undo needs no server-side state and
works the same in every web process.

The field comes back from the browser, so it is read as untrusted: bounded in
size before and after decompressing, and anything unreadable is an empty history.
A draft taken back from it is only ever a draft: the validator sees it like any other.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib

STEPS = 20  # the edits one can take back
MAX_TEXT = 200_000  # the field as posted
MAX_JSON = 2_000_000  # once decompressed


def read(text: str | None) -> list[dict]:
    """The earlier drafts, oldest first."""
    if not text or len(text) > MAX_TEXT:
        return []
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(base64.urlsafe_b64decode(text.encode("ascii")), MAX_JSON)
        if inflater.unconsumed_tail:
            return []
        drafts = json.loads(raw)
    except (ValueError, UnicodeError, binascii.Error, zlib.error):
        return []
    if not isinstance(drafts, list):
        return []
    return [d for d in drafts if isinstance(d, dict)][-STEPS:]


def write(drafts: list[dict]) -> str:
    if not drafts:
        return ""
    packed = json.dumps(drafts[-STEPS:], separators=(",", ":"), ensure_ascii=False).encode()
    text = base64.urlsafe_b64encode(zlib.compress(packed, 6)).decode("ascii")
    return text if len(text) <= MAX_TEXT else write(drafts[1:])  # the oldest go first


def pushed(drafts: list[dict], before: dict, after: dict) -> list[dict]:
    """The history once an edit took ``before`` to ``after`` (nothing to take back if equal)."""
    return drafts if before == after else [*drafts, before][-STEPS:]
