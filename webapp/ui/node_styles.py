"""``/node-types.css``: each node type's tone, from the colour its class declares.

The stylesheet's rules (``static/app.css``) paint with ``--tone`` and its shades;
this sets them per type (``.t-<type>``), so a new node type brings its colour
with it and nothing in the stylesheet names a type.
"""

from __future__ import annotations

from flask import Response

from ..engine import node_types
from . import bp

# How far each shade is from white: the chip's background, the graph box and its outline.
SHADES = {"soft": 0.12, "box": 0.04, "line": 0.4}


@bp.get("/node-types.css")
def node_type_styles() -> Response:
    rules = [_rule(info.name, info.colour) for info in node_types.all_types()]
    response = Response("\n".join(rules) + "\n", mimetype="text/css")
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


def _rule(name: str, colour: str) -> str:
    shades = "".join(f" --tone-{shade}: {_toward_white(colour, share)};" for shade, share in SHADES.items())
    return f".t-{name} {{ --tone: {colour};{shades} }}"


def _toward_white(colour: str, share: float) -> str:
    """``colour`` (``#rrggbb``) mixed into white: ``share`` of it, the rest white."""
    channels = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(255 - (255 - c) * share):02x}" for c in channels)
