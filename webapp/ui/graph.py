"""The picture of a workflow: a server-rendered SVG, layered top to bottom, the same
in the editor, a template's preview and an execution's page (beside a panel or a list).

It draws the definition as written, valid or not (the editor redraws it while the
person is still fixing problems): unknown ends and self-loops are left out and a
cycle does not stop the layout. Colours come from CSS classes (``t-<type>`` for node
types, ``s-<status>`` on the execution page), never from inline styles.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup

from ..engine import node_types

NODE_WIDTH, NODE_HEIGHT = 168, 56
PAD = 14
LABEL_CHARS = 21
FITS_WIDTH = 960  # wider than this, a graph scrolls rather than shrinks below MIN_SCALE
MIN_SCALE = 0.8
FITS_PHONE = 440  # wider than this, a phone (drawn at 0.8 there) shows part of it: say so there
EXIT_WIDTH, EXIT_HEIGHT = 40, 16  # a branching node's labelled exits, drawn on its edge
_ids = itertools.count(1)


@dataclass(frozen=True)
class Flow:
    """Which way a graph runs: layers follow each other *along* one axis, nodes of
    one layer sit side by side *across* the other. Layout and routing work in those
    terms; ``xy`` turns them into the picture's x and y."""

    down: bool
    gap_along: float
    gap_across: float

    @property
    def along_size(self) -> float:
        return NODE_HEIGHT if self.down else NODE_WIDTH

    @property
    def across_size(self) -> float:
        return NODE_WIDTH if self.down else NODE_HEIGHT

    def xy(self, along: float, across: float) -> tuple[float, float]:
        return (across, along) if self.down else (along, across)


DOWN = Flow(down=True, gap_along=64, gap_across=28)  # every page draws this one: a column beside a panel


@dataclass
class _Box:
    id: str
    type: str
    name: str | None
    layer: int = 0
    row: float = 0
    along: float = 0
    across: float = 0
    x: float = 0
    y: float = 0


@dataclass
class _Edge:
    source: str
    target: str
    branch: str | None
    index: int  # of its (first) connection in the definition


@dataclass
class _Route:
    path: str
    middle: tuple[float, float]  # x, y: where a label or a "+" goes
    farthest_across: float


def render_graph(
    definition: dict | None,
    *,
    statuses: dict[str, str] | None = None,
    details: dict[str, str] | None = None,
    link_prefix: str | None = None,
    label: str = "Workflow graph",
    insert_points: bool = False,
    selected: str | None = None,
    pinned: frozenset[str] | set[str] = frozenset(),
) -> Markup:
    """The SVG for ``definition`` (``nodes`` and ``connections`` as in docs/api.md).

    ``statuses`` colours nodes by run status instead of type; ``details`` adds a
    second line under a node's name; ``link_prefix`` makes each node a link to
    ``#<prefix><node id>`` (``selected`` marks one). A branching node's exits are
    drawn, labelled; ``insert_points`` puts a "+" on every
    connection (``data-action="insert_on:<its index>"``, for the editor's script).
    ``pinned`` marks the nodes whose output a test run is given (the Test panel's pins).
    A node coloured by status says which it is (``data-node``): the events of a run being
    watched recolour it (static/live.js).
    """
    boxes, edges = _read(definition or {})
    if not boxes:
        return Markup('<p class="graph-empty">No nodes yet. Add an input, a model call and an output.</p>')
    flow = DOWN
    _layout(boxes, edges, flow)
    uid = f"g{next(_ids)}"
    exits = _exits(boxes)
    routes = [
        _route(boxes[e.source], boxes[e.target], list(boxes.values()), flow, exits.get(e.source), e.branch)
        for e in edges
    ]
    along = max(b.along for b in boxes.values()) + flow.along_size + PAD
    across = max([b.across + flow.across_size for b in boxes.values()] + [r.farthest_across + 10 for r in routes]) + PAD
    width, height = flow.xy(along, across)
    summary = ", ".join(f"{e.source} → {e.target}" for e in edges) or "no connections"
    # A wide graph keeps its titles readable (drawn at MIN_SCALE or more) and scrolls sideways,
    # saying so, instead of shrinking to fit (a 12-node workflow once drew 7 px titles).
    wide = width > FITS_WIDTH
    shown = max(FITS_WIDTH, width * MIN_SCALE) if wide else width
    parts = [
        Markup(
            '<svg class="graph{c}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{sw}" height="{sh}" '
            'role="{role}" aria-labelledby="{u}-title {u}-desc">'
        ).format(
            role="group" if link_prefix or insert_points else "img",  # an image's links would be hidden
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
    parts += [_edge(e, uid, route.path) for e, route in routed]
    # A branch drawn as its source's exit needs no second label on the line.
    labelled = [(e, route) for e, route in routed if e.branch and e.branch not in exits.get(e.source, ())]
    parts += [_label(e.branch, *route.middle, shift=insert_points) for e, route in labelled]
    parts += [
        _node(
            box,
            (statuses or {}).get(box.id),
            (details or {}).get(box.id),
            link_prefix,
            statuses is not None,
            box.id == selected,
            box.id in pinned,
        )
        for box in sorted(boxes.values(), key=lambda b: (b.layer, b.row))  # reading (and Tab) order
    ]
    leaving = {(e.source, e.branch) for e in edges}
    parts += [
        _exit(boxes[node_id], branches, branch, flow, used=(node_id, branch) in leaving, pressable=insert_points)
        for node_id, branches in exits.items()
        for branch in branches
    ]
    if insert_points:
        parts += [_port(box, flow) for box in boxes.values() if box.id not in exits]
        parts += [_insert_point(e, *route.middle) for e, route in routed]
    parts.append(Markup("</svg>"))
    if wide:
        parts.append(Markup('<p class="graph-hint small">Wider than the page: scroll sideways to see all of it.</p>'))
    elif width > FITS_PHONE:
        parts.append(Markup('<p class="graph-hint graph-hint-phone small">Scroll sideways to see all of it.</p>'))
    return Markup("").join(parts)


def _read(definition: dict) -> tuple[dict[str, _Box], list[_Edge]]:
    boxes: dict[str, _Box] = {}
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and isinstance(node.get("id"), str) and node["id"] and node["id"] not in boxes:
            name = node.get("name") if isinstance(node.get("name"), str) and node.get("name") else None
            kind = node.get("type") if isinstance(node.get("type"), str) else "unknown"
            boxes[node["id"]] = _Box(node["id"], kind, name)
    edges: list[_Edge] = []
    seen: set[tuple] = set()
    connections = definition.get("connections") if isinstance(definition, dict) else None
    for index, connection in enumerate(connections if isinstance(connections, list) else []):
        if not isinstance(connection, dict):
            continue
        source, target = connection.get("from"), connection.get("to")
        branch = connection.get("branch") if isinstance(connection.get("branch"), str) else None
        drawn = isinstance(source, str) and isinstance(target, str) and source in boxes and target in boxes
        if drawn and source != target and (source, target, branch) not in seen:
            seen.add((source, target, branch))
            edges.append(_Edge(source, target, branch, index))
    return boxes, edges


def _exits(boxes: dict[str, _Box]) -> dict[str, tuple[str, ...]]:
    """The labelled exits of each branching node (a conditional's true and false)."""
    found = {}
    for box in boxes.values():
        info = node_types.describe(box.type)
        if info is not None and info.branches:
            found[box.id] = info.branches
    return found


def _exit_across(box: _Box, branches: tuple[str, ...], branch: str, flow: Flow) -> float:
    """Where an exit sits across its node: spread evenly, in the order the type gives."""
    return box.across + flow.across_size * (branches.index(branch) + 1) / (len(branches) + 1)


def _layout(boxes: dict[str, _Box], edges: list[_Edge], flow: Flow) -> None:
    """Longest-path layers (edges closing a cycle are ignored for layering), then one
    barycentre pass per layer to keep crossings down."""
    order = _order(list(boxes), edges)
    rank = {node_id: i for i, node_id in enumerate(order)}
    parents: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        if rank[edge.source] < rank[edge.target]:
            parents[edge.target].append(edge.source)
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
    step_across = flow.across_size + flow.gap_across
    for number, column in layers.items():
        offset = (tallest - len(column)) * step_across / 2
        for box in column:
            box.along = PAD + number * (flow.along_size + flow.gap_along)
            box.across = PAD + offset + box.row * step_across
            box.x, box.y = flow.xy(box.along, box.across)


def _order(node_ids: list[str], edges: list[_Edge]) -> list[str]:
    """Topological where possible (Kahn, ties in definition order); nodes on a cycle follow."""
    indegree = dict.fromkeys(node_ids, 0)
    successors: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        indegree[edge.target] += 1
        successors[edge.source].append(edge.target)
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


def _route(
    source: _Box, target: _Box, boxes: list[_Box], flow: Flow, exits: tuple[str, ...] | None, branch: str | None
) -> _Route:
    """The line from ``source`` (its exit for ``branch``, if it has one) to ``target``.
    One that would cross a node on its way (it skips layers) goes around, past the far
    side of what is in the way; a backwards one (a cycle) too."""
    a1, c1 = source.along + flow.along_size, source.across + flow.across_size / 2
    if exits and branch in exits:
        a1, c1 = a1 + EXIT_HEIGHT / 2, _exit_across(source, exits, branch, flow)
    a2, c2 = target.along, target.across + flow.across_size / 2
    blockers = [
        b
        for b in boxes
        if b is not source
        and b is not target
        and a1 < b.along + flow.along_size
        and b.along < a2
        and _crosses(b, flow, a1, c1, a2, c2)
    ]
    if a2 > a1 and not blockers:
        bend = max((a2 - a1) / 2, 24)
        steps = [("M", (a1, c1)), ("C", (a1 + bend, c1), (a2 - bend, c2), (a2, c2))]
        return _Route(_path(steps, flow), flow.xy((a1 + a2) / 2, (c1 + c2) / 2), max(c1, c2))
    far = max(
        [b.across + flow.across_size for b in blockers]
        + [source.across + flow.across_size, target.across + flow.across_size]
    )
    far += flow.gap_across / 2 + 4
    if a2 <= a1:  # backwards: loop out past the source, around, and back in before the target
        steps = [
            ("M", (a1, c1)),
            ("C", (a1 + 40, c1), (a1 + 40, far), (a1, far)),
            ("L", (a2, far)),
            ("C", (a2 - 40, far), (a2 - 40, c2), (a2, c2)),
        ]
    else:
        steps = [
            ("M", (a1, c1)),
            ("C", (a1 + 28, c1), (a1 + 12, far), (a1 + 40, far)),
            ("L", (a2 - 40, far)),
            ("C", (a2 - 12, far), (a2 - 28, c2), (a2, c2)),
        ]
    return _Route(_path(steps, flow), flow.xy((a1 + a2) / 2, far), far)


def _path(steps: list[tuple], flow: Flow) -> str:
    """SVG path data from steps in flow terms: ("M", point), ("C", p1, p2, p3), ("L", point)."""
    out = []
    for command, *points in steps:
        xy = [flow.xy(*point) for point in points]
        out.append(command + " " + ", ".join(f"{x:.0f} {y:.0f}" for x, y in xy))
    return " ".join(out)


def _crosses(box: _Box, flow: Flow, a1: float, c1: float, a2: float, c2: float) -> bool:
    """Whether the straight line between the ends passes through ``box`` (with a margin)."""
    for a in (box.along, box.along + flow.along_size / 2, box.along + flow.along_size):
        t = (a - a1) / (a2 - a1) if a2 != a1 else 0
        c = c1 + (c2 - c1) * min(max(t, 0), 1)
        if box.across - 6 <= c <= box.across + flow.across_size + 6:
            return True
    return False


def _edge(edge: _Edge, uid: str, path: str) -> Markup:
    css = f"edge edge-{edge.branch}" if edge.branch else "edge"
    return Markup('<path class="{}" d="{}" marker-end="url(#{}-arrow)"><title>{} → {}{}</title></path>').format(
        css, path, uid, edge.source, edge.target, f" ({edge.branch})" if edge.branch else ""
    )


def _label(branch: str, x: float, y: float, shift: bool = False) -> Markup:
    width = 10 + 7 * len(branch)
    if shift:  # beside the "+" that takes the middle
        x += width / 2 + 14
    return Markup(
        '<g class="edge-label edge-label-{b}"><rect x="{x:.0f}" y="{y:.0f}" width="{w}" height="16" rx="8"/>'
        '<text x="{mx:.0f}" y="{ty:.0f}" text-anchor="middle">{b}</text></g>'
    ).format(b=branch, x=x - width / 2, y=y - 8, w=width, mx=x, ty=y + 4)


def _exit(box: _Box, branches: tuple[str, ...], branch: str, flow: Flow, *, used: bool, pressable: bool) -> Markup:
    """A labelled exit on the node's far edge; an unused one is drawn open (dashed). In the
    editor it is a port: dragged onto a node (or pressed, then the node) it connects that branch."""
    along, across = box.along + flow.along_size, _exit_across(box, branches, branch, flow)
    x, y = flow.xy(along, across)
    drawn = Markup(
        '<g class="exit exit-{b}{open}"><title>{node}: the {b} exit{hint}</title>'
        '<rect x="{x:.0f}" y="{y:.0f}" width="{w}" height="{h}" rx="8"/>'
        '<text x="{tx:.0f}" y="{ty:.0f}" text-anchor="middle">{b}</text></g>'
    ).format(
        b=branch,
        open="" if used else " is-open",
        node=box.id,
        hint="" if used else " (not connected)",
        x=x - EXIT_WIDTH / 2,
        y=y - EXIT_HEIGHT / 2,
        w=EXIT_WIDTH,
        h=EXIT_HEIGHT,
        tx=x,
        ty=y + 4,
    )
    if not pressable:
        return drawn
    return Markup(
        '<a class="port port-exit" href="#add-node" role="button" data-connect-from="{n}" data-branch="{b}" '
        'aria-label="Connect the {b} exit of {n} to a node">{g}</a>'
    ).format(n=box.id, b=branch, g=drawn)


def _port(box: _Box, flow: Flow) -> Markup:
    """The dot on a node's far edge, in the editor: dragged onto another node (or pressed,
    then the node) it connects the two (app.js sends ``connect:<from>:<to>``)."""
    x, y = flow.xy(box.along + flow.along_size, box.across + flow.across_size / 2)
    return Markup(
        '<a class="port" href="#add-node" role="button" data-connect-from="{n}" aria-label="Connect {n} to a node">'
        "<title>Drag onto a node to connect {n} to it</title>"
        '<circle class="hit" cx="{x:.0f}" cy="{y:.0f}" r="12"/><circle cx="{x:.0f}" cy="{y:.0f}" r="5"/></a>'
    ).format(n=box.id, x=x, y=y)


def _insert_point(edge: _Edge, x: float, y: float) -> Markup:
    """A "+" on a connection: the editor's script inserts a node there."""
    return Markup(
        '<a class="insert-point" href="#add-node" role="button" data-action="insert_on:{i}" '
        'aria-label="Insert a node between {s} and {t}"><title>Insert a node between {s} and {t}</title>'
        '<circle class="hit" cx="{x:.0f}" cy="{y:.0f}" r="13"/><circle cx="{x:.0f}" cy="{y:.0f}" r="9"/>'
        '<path d="M {x0:.0f} {y:.0f} H {x1:.0f} M {x:.0f} {y0:.0f} V {y1:.0f}"/></a>'
    ).format(i=edge.index, s=edge.source, t=edge.target, x=x, y=y, x0=x - 4.5, x1=x + 4.5, y0=y - 4.5, y1=y + 4.5)


def _node(
    box: _Box,
    status: str | None,
    detail: str | None,
    link_prefix: str | None,
    by_status: bool,
    selected: bool,
    pinned: bool = False,
) -> Markup:
    css = (
        f"node t-{box.type}"
        + (f" s-{status or 'pending'}" if by_status else "")
        + (" is-selected" if selected else "")
        + (" is-pinned" if pinned else "")
    )
    title = (
        f"{box.id} ({box.type})"
        + (f" — {box.name}" if box.name else "")
        + (f" — {status}" if status else "")
        + (" — output pinned" if pinned else "")
    )
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
    if pinned:  # said in words too (the title), not by the mark alone
        body += Markup('<text class="node-pin" x="{:.0f}" y="{:.0f}" aria-hidden="true">PINNED</text>').format(
            box.x + NODE_WIDTH - 10, box.y + 15
        )
    group = Markup('<g class="{}"{}><title>{}</title>{}</g>').format(
        css, Markup(' data-node="{}"').format(box.id) if by_status else "", title, body
    )
    if link_prefix is None:
        return group
    # An id of its own: htmx gives the focus back to it when a check redraws the graph.
    return Markup('<a href="#{p}{n}" id="graph-{p}{n}" class="node-link" data-node="{n}">{g}</a>').format(
        p=link_prefix, n=box.id, g=group
    )


def _clip(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
