"""Parse and validate a workflow definition into a runnable ``Graph``.

Validation never stops at the first problem: a person fixing a definition wants the
whole list, each with a path (``nodes[2].config.prompt``) that points at the field.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .errors import DefinitionError, Problem
from .expressions import Expressions
from .nodes import ConfigReader, InputNode, NodeType, OutputNode, node_type, type_names

NODE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Jinja2 words a node could be named but never referred to by.
RESERVED_IDS = frozenset({"and", "or", "not", "if", "else", "is", "true", "false", "none"})
ON_ERROR = ("fail", "continue", "branch")
BRANCHES = ("true", "false", "error")
_NODE_KEYS = {"id", "type", "name", "config", "on_error"}
_CONNECTION_KEYS = {"from", "to", "branch"}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    branch: str | None = None
    index: int = field(default=0, compare=False)  # position in 'connections', for messages


@dataclass
class GraphNode:
    id: str
    type: str
    impl: NodeType
    position: int
    name: str | None = None
    on_error: str = "fail"
    config: dict = field(default_factory=dict)  # as written: a sandbox process rebuilds the node from it


@dataclass
class Graph:
    nodes: dict[str, GraphNode]  # in definition order
    edges: list[Edge]
    order: list[str]  # topological, ties in definition order
    incoming: dict[str, list[Edge]] = field(default_factory=dict)
    outgoing: dict[str, list[Edge]] = field(default_factory=dict)

    @property
    def input_node(self) -> InputNode | None:
        return next((n.impl for n in self.nodes.values() if n.type == "input"), None)

    def upstream_of(self, node_id: str) -> frozenset[str]:
        """``node_id`` and every node a path leads from to it: what a run ``until`` it runs."""
        found, stack = {node_id}, [node_id]
        while stack:
            for edge in self.incoming.get(stack.pop(), ()):
                if edge.source not in found:
                    found.add(edge.source)
                    stack.append(edge.source)
        return frozenset(found)

    def validate_inputs(self, inputs: Any) -> dict:
        """The inputs a run will see, or ``InputError`` listing every problem."""
        return (self.input_node or InputNode("input", {}, _scratch_reader())).validate_inputs(inputs)


@dataclass(frozen=True)
class Size:
    """How big a definition may be. Each bound keeps validation itself cheap: the
    largest allowed definition is checked in milliseconds (``make bench``)."""

    max_nodes: int = 100
    max_connections: int = 1000
    max_expressions: int = 500  # '{{ … }}' and '{% … %}' in all of its templates together


def parse_definition(document: Any, expressions: Expressions, *, size: Size = Size()) -> Graph:
    """A ``Graph`` ready to run, or ``DefinitionError`` with every problem found."""
    problems: list[Problem] = []
    if not isinstance(document, dict):
        raise DefinitionError(
            [Problem("", "invalid_value", "a definition is an object with 'nodes' and 'connections'")]
        )
    too_many = count_problem(document, size)
    if too_many is not None:
        raise DefinitionError([too_many])
    raw_nodes = document.get("nodes")
    raw_connections = document.get("connections", [])
    if raw_nodes is None:
        problems.append(Problem("nodes", "missing_field", "'nodes' is required"))
        raw_nodes = []
    elif not isinstance(raw_nodes, list):
        problems.append(Problem("nodes", "invalid_value", "'nodes' must be a list"))
        raw_nodes = []
    if raw_connections is None:
        raw_connections = []
    elif not isinstance(raw_connections, list):
        problems.append(Problem("connections", "invalid_value", "'connections' must be a list"))
        raw_connections = []
    if (count := _expressions_in(raw_nodes)) > size.max_expressions:
        message = f"the templates hold {count} expressions; a workflow may have at most {size.max_expressions}"
        raise DefinitionError([Problem("nodes", "invalid_value", message)])

    nodes = _read_nodes(raw_nodes, expressions, problems)
    edges = _read_connections(raw_connections, nodes, problems)
    _check_shape(nodes, edges, problems)
    order, cyclic = _topological_order(nodes, edges)
    if cyclic:
        problems.append(Problem("connections", "cycle", f"connections form a cycle: {' → '.join(cyclic)}"))
    _check_references(nodes, edges, order if not cyclic else None, problems)
    _check_lists(nodes, problems)
    if problems:
        raise DefinitionError(problems)
    graph = Graph(nodes=nodes, edges=edges, order=order)
    for node_id in nodes:
        graph.incoming[node_id], graph.outgoing[node_id] = [], []
    for edge in edges:
        graph.outgoing[edge.source].append(edge)
        graph.incoming[edge.target].append(edge)
    return graph


def count_problem(document: Any, size: Size = Size()) -> Problem | None:
    """More nodes or connections than ``size`` allows, told before anything in them is read
    (by the validator, and by pages, which draw nothing of such a draft)."""
    if not isinstance(document, dict):
        return None
    for key, most in (("nodes", size.max_nodes), ("connections", size.max_connections)):
        found = document.get(key)
        if isinstance(found, list) and len(found) > most:
            message = f"a workflow may have at most {most} {key}; this one has {len(found):,}"
            return Problem(key, "invalid_value", message)
    return None


def _expressions_in(value: Any) -> int:
    """An upper bound on the expressions in every string of ``value``, counted before
    anything is compiled (compiling costs about 0.1 ms an expression)."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            count += item.count("{{") + item.count("{%")
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _read_nodes(raw_nodes: list, expressions: Expressions, problems: list[Problem]) -> dict[str, GraphNode]:
    nodes: dict[str, GraphNode] = {}
    first_use: dict[str, int] = {}
    for index, raw in enumerate(raw_nodes):
        where = f"nodes[{index}]"
        if not isinstance(raw, dict):
            problems.append(Problem(where, "invalid_value", "a node must be an object with 'id', 'type' and 'config'"))
            continue
        for key in raw:
            if key not in _NODE_KEYS:
                problems.append(Problem(f"{where}.{key}", "invalid_value", f"unknown node field '{key}'"))
        node_id = _read_node_id(raw.get("id"), where, first_use, index, problems)
        kind = raw.get("type")
        cls = node_type(kind) if isinstance(kind, str) else None
        if kind is None:
            problems.append(Problem(f"{where}.type", "missing_field", "'type' is required"))
        elif cls is None:
            problems.append(
                Problem(
                    f"{where}.type",
                    "unknown_node_type",
                    f"unknown node type '{kind}' (known: {', '.join(type_names())})",
                )
            )
        config = raw.get("config") if raw.get("config") is not None else {}
        if not isinstance(config, dict):
            problems.append(Problem(f"{where}.config", "invalid_value", "'config' must be an object"))
            config = {}
        on_error = raw.get("on_error", "fail")
        if on_error not in ON_ERROR:
            problems.append(
                Problem(f"{where}.on_error", "invalid_value", f"'on_error' must be one of {', '.join(ON_ERROR)}")
            )
            on_error = "fail"
        name = raw.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            problems.append(
                Problem(f"{where}.name", "invalid_value", "'name' must be a string of at most 200 characters")
            )
            name = None
        if cls is None:
            continue
        impl = cls(node_id or f"node{index}", config, ConfigReader(config, f"{where}.config", expressions, problems))
        if node_id is not None:
            nodes[node_id] = GraphNode(node_id, kind, impl, index, name, on_error, config)
    return nodes


def _read_node_id(node_id: Any, where: str, first_use: dict, index: int, problems: list[Problem]) -> str | None:
    if node_id is None:
        problems.append(Problem(f"{where}.id", "missing_field", "'id' is required"))
        return None
    if not isinstance(node_id, str) or not NODE_ID.fullmatch(node_id):
        problems.append(
            Problem(
                f"{where}.id",
                "invalid_value",
                f"node id {node_id!r} must start with a letter or _ and hold only letters, digits and _ (at most 64)",
            )
        )
        return None
    if node_id.lower() in RESERVED_IDS:
        problems.append(
            Problem(f"{where}.id", "invalid_value", f"'{node_id}' is a reserved word and cannot be referred to")
        )
        return None
    if node_id in first_use:
        problems.append(
            Problem(
                f"{where}.id",
                "duplicate_id",
                f"duplicate node id '{node_id}' (already used by nodes[{first_use[node_id]}])",
            )
        )
        return None
    first_use[node_id] = index
    return node_id


def _read_connections(raw_connections: list, nodes: dict[str, GraphNode], problems: list[Problem]) -> list[Edge]:
    edges: list[Edge] = []
    seen: set[Edge] = set()  # equal edges hash alike: a duplicate is found in O(1), not O(n)
    for index, raw in enumerate(raw_connections):
        where = f"connections[{index}]"
        if not isinstance(raw, dict):
            problems.append(Problem(where, "invalid_value", "a connection must be an object with 'from' and 'to'"))
            continue
        for key in raw:
            if key not in _CONNECTION_KEYS:
                problems.append(Problem(f"{where}.{key}", "invalid_value", f"unknown connection field '{key}'"))
        ends = {}
        for end in ("from", "to"):
            value = raw.get(end)
            if value is None:
                problems.append(Problem(f"{where}.{end}", "missing_field", f"'{end}' is required"))
            elif not isinstance(value, str):
                problems.append(Problem(f"{where}.{end}", "invalid_value", f"'{end}' must be a node id"))
            elif value not in nodes:
                problems.append(Problem(f"{where}.{end}", "unknown_node", f"connection {end} unknown node '{value}'"))
            else:
                ends[end] = value
        branch = raw.get("branch")
        if branch is not None and branch not in BRANCHES:
            problems.append(
                Problem(f"{where}.branch", "invalid_value", f"'branch' must be one of {', '.join(BRANCHES)}")
            )
            continue
        if len(ends) < 2:
            continue
        source, target = nodes[ends["from"]], ends["to"]
        exits = source.impl.branches
        if branch in ("true", "false") and branch not in exits:
            problems.append(
                Problem(
                    f"{where}.branch",
                    "bad_branch",
                    f"branch '{branch}' is only allowed leaving a conditional; '{source.id}' is of type {source.type}",
                )
            )
        elif branch is None and exits:
            problems.append(
                Problem(
                    f"{where}.branch",
                    "bad_branch",
                    f"a connection leaving '{source.id}' must name its branch: {' or '.join(exits)}",
                )
            )
        elif branch == "error" and source.on_error != "branch":
            problems.append(
                Problem(
                    f"{where}.branch", "bad_branch", f"branch 'error' needs \"on_error\": \"branch\" on '{source.id}'"
                )
            )
        edge = Edge(source.id, target, branch, index)
        if source.id == target:
            problems.append(Problem(where, "cycle", f"node '{target}' is connected to itself"))
        elif edge in seen:
            problems.append(Problem(where, "invalid_value", f"duplicate connection {source.id} → {target}"))
        else:
            seen.add(edge)
            edges.append(edge)
    return edges


def _check_shape(nodes: dict[str, GraphNode], edges: list[Edge], problems: list[Problem]) -> None:
    inputs = [n for n in nodes.values() if n.type == "input"]
    for extra in inputs[1:]:
        problems.append(
            Problem(
                f"nodes[{extra.position}].type",
                "invalid_value",
                f"a workflow has at most one input node; '{inputs[0].id}' is already one",
            )
        )
    for edge in edges:
        if not nodes[edge.target].impl.takes_input:
            problems.append(
                Problem(
                    f"connections[{edge.index}].to",
                    "invalid_value",
                    f"the input node '{edge.target}' cannot have incoming connections (from '{edge.source}')",
                )
            )
    if (nodes and not any(isinstance(n.impl, OutputNode) for n in nodes.values())) or (
        not nodes and not any(p.path == "nodes" for p in problems)
    ):
        problems.append(Problem("nodes", "missing_field", "a workflow needs at least one output node"))


def _topological_order(nodes: dict[str, GraphNode], edges: list[Edge]) -> tuple[list[str], list[str]]:
    """Kahn's algorithm; on a cycle, also one cycle's nodes (to name them)."""
    indegree = {node_id: 0 for node_id in nodes}
    successors: dict[str, list[str]] = {node_id: [] for node_id in nodes}
    for edge in edges:
        indegree[edge.target] += 1
        successors[edge.source].append(edge.target)
    ready = deque(node_id for node_id, degree in indegree.items() if degree == 0)
    order = []
    while ready:
        node_id = ready.popleft()
        order.append(node_id)
        for successor in successors[node_id]:
            indegree[successor] -= 1
            if indegree[successor] == 0:
                ready.append(successor)
    if len(order) == len(nodes):
        return order, []
    return order, _find_cycle({n for n, d in indegree.items() if d > 0}, successors)


def _find_cycle(stuck: set[str], successors: dict[str, list[str]]) -> list[str]:
    # What Kahn's algorithm leaves includes nodes merely downstream of a cycle: peel them off.
    while dead_ends := {n for n in stuck if not any(s in stuck for s in successors[n])}:
        stuck -= dead_ends
    start = min(stuck)
    path, seen = [start], {start: 0}
    while True:
        following = next(s for s in successors[path[-1]] if s in stuck)
        if following in seen:
            return [*path[seen[following] :], following]
        seen[following] = len(path)
        path.append(following)


def _check_references(
    nodes: dict[str, GraphNode], edges: list[Edge], order: list[str] | None, problems: list[Problem]
) -> None:
    ancestors: dict[str, set[str]] = {}
    if order is not None:
        parents: dict[str, list[str]] = {node_id: [] for node_id in nodes}
        for edge in edges:
            parents[edge.target].append(edge.source)
        for node_id in order:
            ancestors[node_id] = set().union(*([{p} | ancestors[p] for p in parents[node_id]] or [set()]))
    for node in nodes.values():
        for path, names in node.impl.references:
            for name in sorted(names):
                if name not in nodes:
                    problems.append(Problem(path, "bad_reference", f"references unknown node '{name}'"))
                elif name == node.id:
                    problems.append(Problem(path, "bad_reference", f"node '{name}' cannot refer to itself"))
                elif order is not None and name not in ancestors[node.id]:
                    problems.append(
                        Problem(
                            path, "bad_reference", f"references node '{name}', which is not upstream of '{node.id}'"
                        )
                    )


_PLAIN_REFERENCE = re.compile(r"\{\{\s*([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*\}\}")


def _check_lists(nodes: dict[str, GraphNode], problems: list[Problem]) -> None:
    """An option that must give a list (a map's items) and only names another node's
    output that never holds one (``{{ call.status }}``) would fail every run: say so now."""
    for node in nodes.values():
        kind = type(node.impl)
        for option in kind.options_for(kind.variant_of(node.config)):
            written = node.config.get(option.key) if option.gives_list else None
            found = _PLAIN_REFERENCE.fullmatch(written.strip()) if isinstance(written, str) else None
            source = nodes.get(found.group(1)) if found else None
            if source is None:
                continue
            gives, output = type(source.impl), found.group(2)
            lists = gives.lists_for(source.config)
            if output in gives.outputs_for(source.config) and output not in lists:
                offer = f"; {source.id} gives {', '.join(lists)}" if lists else ""
                message = f"must give a list, and {source.id}.{output} never is one{offer}"
                problems.append(Problem(f"nodes[{node.position}].config.{option.key}", "invalid_value", message))


def _scratch_reader() -> ConfigReader:
    return ConfigReader({}, "", Expressions(), [])
