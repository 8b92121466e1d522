"""The editor's undo: each structural edit's draft before and after travels with the
form in one hidden field (compressed JSON), so undo needs no server-side state and
works the same in every web process. Undoing brings the structure back but keeps
what was typed into a node since the edit (``undone``): undo never eats typing.

The field comes back from the browser, so it is read as untrusted: bounded in
size before and after decompressing, held to its shape, and anything unreadable is
an empty history. A draft taken back from it is only ever a draft: the validator
sees it like any other.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib

from ..engine import jsontext

STEPS = 20  # the edits one can take back
MAX_TEXT = 200_000  # the field as posted
MAX_JSON = 2_000_000  # once decompressed


def read(text: str | None) -> list[dict]:
    """The edits one can take back, oldest first: ``{"before": draft, "after": draft}``."""
    if not text or len(text) > MAX_TEXT:
        return []
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(base64.urlsafe_b64decode(text.encode("ascii")), MAX_JSON)
        if inflater.unconsumed_tail:
            return []
        steps = jsontext.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeError, binascii.Error, zlib.error):
        return []
    if not isinstance(steps, list):
        return []
    return [s for s in steps if isinstance(s, dict) and _draft(s.get("before")) and _draft(s.get("after"))][-STEPS:]


def _draft(value) -> bool:
    return (
        isinstance(value, dict) and isinstance(value.get("nodes"), list) and isinstance(value.get("connections"), list)
    )


def write(steps: list[dict]) -> str:
    if not steps:
        return ""
    packed = json.dumps(steps[-STEPS:], separators=(",", ":"), ensure_ascii=False).encode()
    text = base64.urlsafe_b64encode(zlib.compress(packed, 6)).decode("ascii")
    return text if len(text) <= MAX_TEXT else write(steps[1:])  # the oldest go first


def pushed(steps: list[dict], before: dict, after: dict) -> list[dict]:
    """The history once an edit took ``before`` to ``after`` (nothing to take back if equal)."""
    if _shape(before) == _shape(after):
        return steps
    return [*steps, {"before": _shape(before), "after": _shape(after)}][-STEPS:]


def undone(step: dict, now: dict) -> dict:
    """``step`` taken back from the draft ``now``: its ``before``, except that a node
    changed since the edit (``now`` differs from ``after``) keeps its newer content."""
    after = {n.get("id"): n for n in step["after"]["nodes"] if isinstance(n, dict)}
    current = {n.get("id"): n for n in now.get("nodes") or [] if isinstance(n, dict)}
    nodes = []
    for node in step["before"]["nodes"]:
        node_id = node.get("id") if isinstance(node, dict) else None
        edited = node_id in after and node_id in current and current[node_id] != after[node_id]
        nodes.append(current[node_id] if edited else node)
    return {"nodes": nodes, "connections": step["before"]["connections"]}


def _shape(definition: dict) -> dict:
    return {"nodes": list(definition.get("nodes") or []), "connections": list(definition.get("connections") or [])}
