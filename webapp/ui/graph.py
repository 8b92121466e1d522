"""The picture of a workflow: a server-rendered SVG, layered left to right.

It draws the definition as written, valid or not (the editor redraws it while the
person is still fixing problems): unknown ends and self-loops are left out and a
cycle does not stop the layout. Colours come from CSS classes (``t-<type>`` for node
types, ``s-<status>`` on the execution page), never from inline styles.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup, escape

from ..engine import node_types

NODE_WIDTH, NODE_HEIGHT = 168, 56
GAP_X, GAP_Y, PAD = 64, 22, 14
LABEL_CHARS = 21
FITS_WIDTH = 960  # wider than this, a graph scrolls rather than shrinks below MIN_SCALE
MIN_SCALE = 0.8
_ids = itertools.count(1)


@dataclass
class _Box:
    id: str
    type: str
    name: str | None
    layer: int = 0
    row: float = 0
    x: float = 0
    y: float = 0


def render_graph(
    definition: dict | None,
    *,
    statuses: dict[str, str] | None = None,
    details: dict[str, str] | None = None,
    link_prefix: str | None = None,
    label: str = "Workflow graph",
) -> Markup:
    """The SVG for ``definition`` (``nodes`` and ``connections`` as in SPEC.md).

    ``statuses`` colours nodes by run status instead of type; ``details`` adds a
    second line under a node's name; ``link_prefix`` makes each node a link to
    ``#<prefix><node id>``.
    """
    boxes, edges = _read(definition or {})
    if not boxes:
        return Markup('<p class="graph-empty">No nodes yet. Add an input, a model call and an output.</p>')
    _layout(boxes, edges)
    uid = f"g{next(_ids)}"
    routes = [_route(boxes[s], boxes[t], list(boxes.values())) for s, t, _ in edges]
    width = max(b.x for b in boxes.values()) + NODE_WIDTH + PAD
    height = max([b.y + NODE_HEIGHT for b in boxes.values()] + [r[3] + 10 for r in routes]) + PAD
    summary = ", ".join(f"{s} → {t}" for s, t, _ in edges) or "no connections"
    # A wide graph keeps its titles readable (drawn at MIN_SCALE or more) and scrolls sideways,
    # saying so, instead of shrinking to fit (a 12-node workflow once drew 7 px titles).
    wide = width > FITS_WIDTH
    shown = max(FITS_WIDTH, width * MIN_SCALE) if wide else width
    parts = [
        Markup(
            '<svg class="graph{c}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{sw}" height="{sh}" '
            'role="img" aria-labelledby="{u}-title {u}-desc">'
        ).format(
            c=" graph-wide" if wide else "",
            w=int(width),
            h=int(height),
            sw=int(shown),
            sh=int(height * shown / width),
            u=uid,
        ),
        Markup('<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>').format(uid, label, uid, summary),
        Markup(
            '<defs><marker id="{}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path class="arrow" d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>'
        ).format(uid),
    ]
    routed = list(zip(edges, routes, strict=True))
    parts += [_edge(boxes[s], boxes[t], branch, uid, route[0]) for (s, t, branch), route in routed]
    parts += [_label(branch, route[1], route[2]) for (_, _, branch), route in routed if branch]
    parts += [
        _node(box, (statuses or {}).get(box.id), (details or {}).get(box.id), link_prefix, statuses is not None)
        for box in boxes.values()
    ]
    parts.append(Markup("</svg>"))
    if wide:
        parts.append(Markup('<p class="graph-hint small">Wider than the page: scroll sideways to see all of it.</p>'))
    return Markup("").join(parts)


def _read(definition: dict) -> tuple[dict[str, _Box], list[tuple[str, str, str | None]]]:
    boxes: dict[str, _Box] = {}
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and isinstance(node.get("id"), str) and node["id"] and node["id"] not in boxes:
            name = node.get("name") if isinstance(node.get("name"), str) and node.get("name") else None
            kind = node.get("type") if isinstance(node.get("type"), str) else "unknown"
            boxes[node["id"]] = _Box(node["id"], kind, name)
    edges: list[tuple[str, str, str | None]] = []
    connections = definition.get("connections") if isinstance(definition, dict) else None
    for connection in connections if isinstance(connections, list) else []:
        if not isinstance(connection, dict):
            continue
        source, target = connection.get("from"), connection.get("to")
        branch = connection.get("branch") if isinstance(connection.get("branch"), str) else None
        if source in boxes and target in boxes and source != target and (source, target, branch) not in edges:
            edges.append((source, target, branch))
    return boxes, edges


def _layout(boxes: dict[str, _Box], edges: list[tuple[str, str, str | None]]) -> None:
    """Longest-path layers (edges closing a cycle are ignored for layering), then one
    barycentre pass per layer to keep crossings down."""
    order = _order(list(boxes), edges)
    rank = {node_id: i for i, node_id in enumerate(order)}
    parents: dict[str, list[str]] = defaultdict(list)
    for source, target, _ in edges:
        if rank[source] < rank[target]:
            parents[target].append(source)
    for node_id in order:
        boxes[node_id].layer = max((boxes[p].layer + 1 for p in parents[node_id]), default=0)
    layers: dict[int, list[_Box]] = defaultdict(list)
    for node_id in order:
        layers[boxes[node_id].layer].append(boxes[node_id])
    for number in sorted(layers):
        column = layers[number]
        for index, box in enumerate(column):
            box.row = index
        if number:
            column.sort(
                key=lambda b: (
                    (sum(boxes[p].row for p in parents[b.id]) / len(parents[b.id])) if parents[b.id] else b.row
                )
            )
            for index, box in enumerate(column):
                box.row = index
    tallest = max(len(column) for column in layers.values())
    for number, column in layers.items():
        offset = (tallest - len(column)) * (NODE_HEIGHT + GAP_Y) / 2
        for box in column:
            box.x = PAD + number * (NODE_WIDTH + GAP_X)
            box.y = PAD + offset + box.row * (NODE_HEIGHT + GAP_Y)


def _order(node_ids: list[str], edges: list[tuple[str, str, str | None]]) -> list[str]:
    """Topological where possible (Kahn, ties in definition order); nodes on a cycle follow."""
    indegree = dict.fromkeys(node_ids, 0)
    successors: dict[str, list[str]] = defaultdict(list)
    for source, target, _ in edges:
        indegree[target] += 1
        successors[source].append(target)
    ready = [n for n in node_ids if indegree[n] == 0]
    order: list[str] = []
    while ready:
        node_id = ready.pop(0)
        order.append(node_id)
        for successor in successors[node_id]:
            indegree[successor] -= 1
            if indegree[successor] == 0:
                ready.append(successor)
    placed = set(order)
    return order + [n for n in node_ids if n not in placed]


def _route(source: _Box, target: _Box, boxes: list[_Box]) -> tuple[str, float, float, float]:
    """(SVG path, label x, label y, lowest y). An edge that would cross a node on
    its way (it skips layers) goes around underneath; a backwards one (a cycle) too."""
    x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT / 2
    x2, y2 = target.x, target.y + NODE_HEIGHT / 2
    blockers = [
        b
        for b in boxes
        if b is not source and b is not target and x1 < b.x + NODE_WIDTH and b.x < x2 and _crosses(b, x1, y1, x2, y2)
    ]
    if x2 > x1 and not blockers:
        bend = max((x2 - x1) / 2, 24)
        path = f"M {x1:.0f} {y1:.0f} C {x1 + bend:.0f} {y1:.0f}, {x2 - bend:.0f} {y2:.0f}, {x2:.0f} {y2:.0f}"
        return path, (x1 + x2) / 2, (y1 + y2) / 2, max(y1, y2)
    below = [b.y + NODE_HEIGHT for b in blockers] + [source.y + NODE_HEIGHT, target.y + NODE_HEIGHT]
    low = max(below) + GAP_Y / 2 + 4
    if x2 <= x1:  # backwards: loop out to the right, under, and back in from the left
        path = (
            f"M {x1:.0f} {y1:.0f} C {x1 + 40:.0f} {y1:.0f}, {x1 + 40:.0f} {low:.0f}, {x1:.0f} {low:.0f} "
            f"L {x2:.0f} {low:.0f} C {x2 - 40:.0f} {low:.0f}, {x2 - 40:.0f} {y2:.0f}, {x2:.0f} {y2:.0f}"
        )
    else:
        path = (
            f"M {x1:.0f} {y1:.0f} C {x1 + 28:.0f} {y1:.0f}, {x1 + 12:.0f} {low:.0f}, {x1 + 40:.0f} {low:.0f} "
            f"L {x2 - 40:.0f} {low:.0f} C {x2 - 12:.0f} {low:.0f}, {x2 - 28:.0f} {y2:.0f}, {x2:.0f} {y2:.0f}"
        )
    return path, (x1 + x2) / 2, low, low


def _crosses(box: _Box, x1: float, y1: float, x2: float, y2: float) -> bool:
    """Whether the straight line between the ends passes through ``box`` (with a margin)."""
    for x in (box.x, box.x + NODE_WIDTH / 2, box.x + NODE_WIDTH):
        t = (x - x1) / (x2 - x1) if x2 != x1 else 0
        y = y1 + (y2 - y1) * min(max(t, 0), 1)
        if box.y - 6 <= y <= box.y + NODE_HEIGHT + 6:
            return True
    return False


def _edge(source: _Box, target: _Box, branch: str | None, uid: str, path: str) -> Markup:
    css = f"edge edge-{branch}" if branch else "edge"
    return Markup('<path class="{}" d="{}" marker-end="url(#{}-arrow)"><title>{} → {}{}</title></path>').format(
        css, path, uid, source.id, target.id, f" ({branch})" if branch else ""
    )


def _label(branch: str, x: float, y: float) -> Markup:
    width = 10 + 7 * len(branch)
    return Markup(
        '<g class="edge-label edge-label-{b}"><rect x="{x:.0f}" y="{y:.0f}" width="{w}" height="16" rx="8"/>'
        '<text x="{mx:.0f}" y="{ty:.0f}" text-anchor="middle">{b}</text></g>'
    ).format(b=branch, x=x - width / 2, y=y - 8, w=width, mx=x, ty=y + 4)


def _node(box: _Box, status: str | None, detail: str | None, link_prefix: str | None, by_status: bool) -> Markup:
    css = f"node t-{box.type}" + (f" s-{status or 'pending'}" if by_status else "")
    title = f"{box.id} ({box.type})" + (f" — {box.name}" if box.name else "") + (f" — {status}" if status else "")
    main = _clip(box.name or box.id)
    info = node_types.describe(box.type)
    kind = (info.label if info else box.type).upper()
    second = detail if detail is not None else (box.id if box.name else None)
    text_y = box.y + (24 if second else 32)
    body = Markup(
        '<rect class="node-box" x="{x:.0f}" y="{y:.0f}" width="{w}" height="{h}" rx="10"/>'
        '<rect class="node-stripe" x="{x:.0f}" y="{y:.0f}" width="6" height="{h}" rx="3"/>'
        '<text class="node-kind" x="{tx:.0f}" y="{ky:.0f}">{kind}</text>'
        '<text class="node-name" x="{tx:.0f}" y="{ny:.0f}">{main}</text>'
    ).format(
        x=box.x, y=box.y, w=NODE_WIDTH, h=NODE_HEIGHT, tx=box.x + 16, ky=box.y + 15, kind=kind, ny=text_y + 8, main=main
    )
    if second:
        body += Markup('<text class="node-detail" x="{:.0f}" y="{:.0f}">{}</text>').format(
            box.x + 16, box.y + NODE_HEIGHT - 8, _clip(second, 25)
        )
    group = Markup('<g class="{}"><title>{}</title>{}</g>').format(css, title, body)
    if link_prefix is None:
        return group
    return Markup('<a href="#{}{}" class="node-link">{}</a>').format(link_prefix, escape(box.id), group)


def _clip(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
