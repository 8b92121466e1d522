"""The editor's form, read back: posted fields (or the JSON tab) become a
definition again, and structural edits (add, insert, move or remove a node; add or
remove a row or a connection) change a draft.

Empty fields mean "not set", unless ``_keys`` says the option was spelled out
before; options without a field come back from ``_extra``. So an unchanged form
gives back an equal definition, and saving it does not bump the version.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from ..engine import jsontext
from ..engine.errors import Problem
from ..engine.node_types import NodeTypeInfo, Option
from .editor_schema import (
    MISSING,
    Spec,
    describe,
    item_specs,
    nested_options,
    options_for,
    row_options,
    specs_for,
)

_FIELD_NAME = re.compile(r"^(nodes|connections)\[(\d{1,4})\]\.(.+)$")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d{1,4})\]")


@dataclass
class Draft:
    definition: dict
    problems: list[Problem]  # what the form itself could not read (bad JSON, duplicate names)


def read_form(form) -> Draft:
    """The definition the posted editor form describes."""
    tree = _tree(form)
    problems: list[Problem] = []
    renames: dict[str, str] = {}
    nodes = []
    for index in sorted(tree.get("nodes", {})):
        raw = tree["nodes"][index]
        node = _read_node(index, raw, problems)
        was = raw.get("_was")
        if isinstance(was, str) and was and isinstance(node.get("id"), str) and node["id"] != was:
            renames[was] = node["id"]
        nodes.append(node)
    connections = []
    for index in sorted(tree.get("connections", {})):
        raw = tree["connections"][index]
        connection = {}
        for end in ("from", "to"):
            value = _text(raw.get(end))
            connection[end] = renames.get(value, value)
        if _text(raw.get("branch")):
            connection["branch"] = _text(raw.get("branch"))
        connection.update(_extra(raw.get("_extra"), f"connections[{index}]", problems))
        connections.append(connection)
    return Draft({"nodes": nodes, "connections": connections}, problems)


def _tree(form) -> dict:
    """Posted names (``nodes[1].config.fields[0].name``) as nested dicts; list
    indexes stay integer keys, sorted when read."""
    tree: dict = {}
    for name in form:
        match = _FIELD_NAME.match(name)
        if not match:
            continue
        values = form.getlist(name)
        value = values[-1] if values else ""  # a checkbox posts a hidden "false" before its "true"
        root, index, rest = match.group(1), int(match.group(2)), match.group(3)
        current = tree.setdefault(root, {}).setdefault(index, {})
        steps = [(m.group(1), m.group(2)) for m in _STEP.finditer(rest)]
        for position, (key, number) in enumerate(steps):
            step = int(number) if number is not None else key
            if position == len(steps) - 1:
                current[step] = value
            else:
                following = current.get(step)
                if not isinstance(following, dict):
                    following = current[step] = {}
                current = following
    return tree


def _read_node(index: int, raw: dict, problems: list[Problem]) -> dict:
    base = f"nodes[{index}]"
    kind = _text(raw.get("type"))
    keys = _json_or(raw.get("_keys"), {})
    node_keys = _key_set(keys.get("node")) if isinstance(keys, dict) else set()
    config_keys = _key_set(keys.get("config")) if isinstance(keys, dict) else set()
    extra = _extra(raw.get("_extra"), base, problems)
    node: dict = {"id": _text(raw.get("id")).strip(), "type": kind}
    name = _text(raw.get("name"))
    if name or "name" in node_keys:
        node["name"] = name
    config_raw = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    config = _read_config(base, describe(kind), config_raw, raw, config_keys, problems)
    config.update(_part(extra, "config"))
    node["config"] = config
    on_error = _text(raw.get("on_error")) or "fail"
    if on_error != "fail" or "on_error" in node_keys:
        node["on_error"] = on_error
    node.update(_part(extra, "node"))
    return node


def _read_config(
    base: str, info: NodeTypeInfo | None, raw: dict, raw_node: dict, keys: set, problems: list[Problem]
) -> dict:
    config: dict = {}
    if info is None:
        return config
    variant, variants = None, info.variants
    if variants is not None and variants.stored:
        variant = config[variants.key] = _text(raw.get(variants.key)) or variants.choices[0].value
        if variant not in variants.values:
            return config
    elif variants is not None:
        chosen = _text(raw_node.get(variants.key))
        variant = chosen if chosen in variants.values else info.variant_of(raw)
    for spec in specs_for(info.name, {}, variant):
        value = _read_value(spec, raw.get(spec.key, MISSING), spec.key in keys)
        if value is not MISSING:
            config[spec.key] = value
    for option in row_options(info.name, {}, variant):
        path = f"{base}.config.{option.key}"
        if option.kind == "fields":
            config[option.key] = [
                _read_declaration(f"{path}[{i}]", option, row, problems)
                for i, row in sorted(_rows(raw.get(option.key)).items())
            ]
            continue
        named = _read_named(path, raw.get(option.key), problems)
        if named is not None or option.required or option.key in keys:
            config[option.key] = named or {}
    for option in nested_options(info.name, {}, variant):
        inner = raw.get(option.key) if isinstance(raw.get(option.key), dict) else {}
        kind = _text(inner.get("type")) or option.values[0]
        inner_raw = inner.get("config") if isinstance(inner.get("config"), dict) else {}
        inner_keys = _key_set(_json_or(inner.get("_keys"), []))
        path = f"{base}.config.{option.key}"
        config[option.key] = {
            "type": kind,
            "config": _read_config(path, describe(kind), inner_raw, inner, inner_keys, problems),
        }
    if variants is not None and not variants.stored:
        _keep_across_shapes(base, info, variant, raw, config, problems)
    return config


def _keep_across_shapes(base: str, info: NodeTypeInfo, variant: str, raw: dict, config: dict, problems) -> None:
    """A node switched between named templates and one template (an output's shape)
    keeps what was written: one template becomes the first name; named ones give the first."""
    marks = [option for option in info.options if option.required and option.when]
    now = next((o for o in marks if o.applies_to(variant)), None)
    before = next((o for o in marks if o is not now and o.key in raw), None)
    if now is None or before is None or now.key in raw:
        return
    if now.kind == "templates":
        config[now.key] = {"result": _text(raw.get(before.key))}
    elif before.kind == "templates":
        named = _read_named(f"{base}.config.{before.key}", raw.get(before.key), problems) or {}
        config[now.key] = next(iter(named.values()), "")


def _rows(value: Any) -> dict:
    return {k: v for k, v in value.items() if isinstance(k, int)} if isinstance(value, dict) else {}


def _read_named(path: str, raw: Any, problems: list[Problem]) -> dict | None:
    rows = _rows(raw)
    if not rows:
        return None
    named: dict = {}
    for index in sorted(rows):
        row = rows[index] if isinstance(rows[index], dict) else {}
        name = _text(row.get("name")).strip()
        if name in named:
            problems.append(Problem(f"{path}[{index}].name", "duplicate_id", f"the name '{name}' is used twice"))
            continue
        named[name] = _text(row.get("template"))
    return named


def _read_declaration(path: str, option: Option, raw: Any, problems: list[Problem]) -> dict:
    """One row of a list of declarations (an input field), read by the option's items."""
    raw = raw if isinstance(raw, dict) else {}
    keys = _key_set(_json_or(raw.get("_keys"), []))
    row: dict = {}
    kind = _text(raw.get("type")) or "string"
    for spec in item_specs(option):
        value = raw.get(spec.key, MISSING)
        if spec.kind == "typed":
            value = _typed_value(kind, _text(value))
        elif spec.kind == "enum":
            value = _enum_value(kind, _text(value))
        else:
            value = _read_value(spec, value, spec.key in keys)
        if value is not MISSING:
            row[spec.key] = value
    row.update(_extra(raw.get("_extra"), path, problems))
    return row


def _read_value(spec: Spec, raw: Any, was_present: bool) -> Any:
    """A posted string as the option's type. Empty means "not set", unless the
    option was spelled out before (then it stays, so an unchanged form is equal)."""
    if spec.kind == "checkbox":
        if raw is MISSING:
            return spec.default if was_present else MISSING
        value = _text(raw) == "true"
        return value if value != spec.default or was_present else MISSING
    text = _text(raw)
    if spec.kind in ("number", "integer"):
        return _number(text) if text.strip() else MISSING
    if spec.kind == "group":
        text = text.strip()
        return (int(text) if text.isdigit() else text) if text else MISSING
    if spec.kind == "separator":
        if raw is MISSING or (text == "" and not was_present):
            return MISSING
        return _unescape(text)
    if spec.kind == "select" and spec.default is not MISSING and text == spec.default and not was_present:
        return MISSING
    if spec.kind == "tools":  # JSON text; what does not parse stays text, for the validator to explain
        return _json_or(text, text) if text.strip() else ([] if was_present else MISSING)
    if raw is MISSING or (text == "" and not was_present):
        return MISSING
    return text


def _number(text: str) -> Any:
    text = text.strip()
    if re.fullmatch(r"[+-]?\d{1,18}", text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return text  # the validator explains what is wrong with it
    return value if value == value and abs(value) != float("inf") else text


def _typed_value(kind: str, text: str) -> Any:
    if text == "":
        return MISSING
    if kind == "string":
        return text
    if kind in ("number", "integer"):
        return _number(text)
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.strip().lower(), text)
    return _json_or(text, text)


def _enum_value(kind: str, text: str) -> Any:
    text = text.strip()
    if not text:
        return MISSING
    if text.startswith("["):
        return _json_or(text, text)
    items = [item.strip() for item in text.split(",") if item.strip()]
    return [_typed_value(kind, item) for item in items]


def _unescape(text: str) -> str:
    return re.sub(r"\\(\\|n|t)", lambda m: {"\\": "\\", "n": "\n", "t": "\t"}[m.group(1)], text)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _json_or(text: Any, fallback: Any) -> Any:
    if not isinstance(text, str) or not text.strip():
        return fallback
    try:
        return jsontext.loads(text)
    except ValueError:
        return fallback


def _extra(text: Any, path: str, problems: list[Problem]) -> dict:
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        value = jsontext.loads(text)
    except ValueError:
        problems.append(Problem(path, "invalid_value", "hidden options could not be read; use the JSON tab"))
        return {}
    return value if isinstance(value, dict) else {}


def _key_set(value: Any) -> set[str]:
    """The option names a hidden ``_keys`` field lists (a list of names; anything else, none)."""
    return {key for key in value if isinstance(key, str)} if isinstance(value, list) else set()


def _part(extra: dict, key: str) -> dict:
    """A node's hidden options of one kind (``node`` or ``config``): an object, or nothing."""
    value = extra.get(key)
    return value if isinstance(value, dict) else {}


def read_json(text: str) -> Draft:
    """The JSON tab: a definition, a workflow, or an export document, as text."""
    try:
        document = jsontext.loads(text)
    except ValueError as exc:
        return Draft({}, [Problem("definition_json", "syntax_error", f"not valid JSON: {exc}")])
    if isinstance(document, dict) and isinstance(document.get("workflow"), dict):
        document = document["workflow"]
    shape = "the JSON must be an object with 'nodes' and 'connections', each a list"
    if not isinstance(document, dict) or any(
        not isinstance(document.get(key), list | None) for key in ("nodes", "connections")
    ):
        return Draft({}, [Problem("definition_json", "invalid_value", shape)])
    return Draft({"nodes": document.get("nodes"), "connections": document.get("connections") or []}, [])


def as_json(definition: dict) -> str:
    return json.dumps(definition, indent=2, ensure_ascii=False)


# -- changing the shape ------------------------------------------------------------------------------


ADDING = ("add_node", "insert_on", "add_from")  # the edits that add a node: it opens, the keyboard on it
_INDEX = re.compile(r"[0-9]{1,6}")  # a node's, row's or connection's place: far more than any bound allows


def parse_action(action: str) -> tuple[str, list[str], list[int]]:
    """An action's verb, its parts after the verb, and those that are indexes (``insert_on:3``)."""
    verb, _, rest = action.partition(":")
    parts = rest.split(":")
    return verb, parts, [int(part) for part in parts if _INDEX.fullmatch(part)]


def apply_action(definition: dict, action: str, form) -> dict:
    """Structural edits (on a copy): add a node (``add_node``, from the add-node fields),
    insert one on a connection (``insert_on:<connection>``), move or remove one, add or
    remove rows and connections."""
    definition = copy.deepcopy(definition)
    nodes = [n for n in definition.get("nodes") or [] if isinstance(n, dict)]
    connections = [c for c in definition.get("connections") or [] if isinstance(c, dict)]
    verb, parts, args = parse_action(action)
    kind = form.get("new_node_type", "ai_model")
    takes_input = getattr(describe(kind), "takes_input", False)  # an unknown type adds nothing anyway
    if verb == "add_node":
        after = form.get("new_node_after", "")
        new_id = _add_node(nodes, connections, kind, after)
        if new_id and takes_input and after and after in _ids(nodes):
            if form.get("new_node_between") == "true":  # into the flow: what followed `after` follows it
                for connection in connections:
                    if connection.get("from") == after:
                        connection["from"] = new_id
            connections.append({"from": after, "to": new_id})
    elif verb == "insert_on" and args and args[0] < len(connections) and takes_input:
        on = connections[args[0]]
        new_id = _add_node(nodes, connections, kind, on.get("from"))
        if new_id:  # the connection now leads to the new node (its branch kept), and on from there
            connections.insert(args[0] + 1, {"from": new_id, "to": on.get("to")})
            on["to"] = new_id
    elif verb == "connect" and len(parts) >= 2:  # connect:<from>:<to>[:<branch>], a drag or a pick in the graph
        _connect(nodes, connections, {"from": parts[0], "to": parts[1], **_branch(nodes, parts[0], parts[2:])})
    elif verb == "add_from" and parts and takes_input:  # add_from:<node>[:<branch>], "add a node here" on an exit
        new_id = _add_node(nodes, connections, kind, parts[0]) if parts[0] in _ids(nodes) else None
        if new_id:
            connections.append({"from": parts[0], "to": new_id, **_branch(nodes, parts[0], parts[1:])})
    elif verb == "remove_node" and args and args[0] < len(nodes):
        removed = nodes.pop(args[0]).get("id")
        connections = _without(
            removed, connections, reconnect="alone" not in parts
        )  # alone: its connections go with it
    elif verb == "move_node" and len(args) == 2 and args[0] < len(nodes):
        target = args[0] + (1 if args[1] else -1)
        if 0 <= target < len(nodes):
            nodes[args[0]], nodes[target] = nodes[target], nodes[args[0]]
    elif verb == "add_connection":
        ids = [n.get("id") for n in nodes]
        connections.append({"from": ids[-2] if len(ids) > 1 else "", "to": ids[-1] if ids else ""})
    elif verb == "remove_connection" and args and args[0] < len(connections):
        connections.pop(args[0])
    elif verb in ("add_tool", "remove_tool") and args and args[0] < len(nodes):
        _change_tools(nodes[args[0]], parts, args, verb == "add_tool", form)
    elif verb in ("add_row", "remove_row") and args and args[0] < len(nodes):
        key = next((part for part in parts[1:] if part and not part.isdigit()), None)
        _change_rows(nodes[args[0]], key, verb == "add_row", args[1] if len(args) > 1 else None)
    return {"nodes": nodes, "connections": connections}


def _ids(nodes: list[dict]) -> set:
    return {n.get("id") for n in nodes if isinstance(n.get("id"), str)}


def _branch(nodes: list[dict], source: str, given: list[str]) -> dict:
    """``{"branch": …}`` when ``source`` is a branching node and names one of its exits."""
    node = next((n for n in nodes if n.get("id") == source), {})
    info = describe(node.get("type"))
    branch = given[0] if given else None
    return {"branch": branch} if info and branch in info.branches else {}


def _connect(nodes: list[dict], connections: list[dict], connection: dict) -> None:
    """Adds ``connection`` between two nodes of the draft, once; a node into itself or
    into one that takes no input (an input node) is no connection."""
    target = next((n for n in nodes if n.get("id") == connection["to"]), None)
    info = describe(target.get("type")) if target else None
    if connection["from"] not in _ids(nodes) or connection["from"] == connection["to"] or not info:
        return
    if info.takes_input and connection not in connections:
        connections.append(connection)


def _add_node(nodes: list[dict], connections: list[dict], kind: str, after: str | None) -> str | None:
    """Appends a new node of ``kind`` (starting from what ``after`` gives); its id, or
    None for a type that does not exist."""
    info = describe(kind)
    if info is None:
        return None
    new_id = _fresh_id(info.starter_id, _ids(nodes))
    nodes.append({"id": new_id, "type": kind, "config": copy.deepcopy(info.starter)})
    if isinstance(after, str) and after and info.fed_by:  # start from what comes in
        fed = next(o for o in info.options if o.key == info.fed_by)
        start = _nearest_list(nodes, connections, after) if fed.gives_list else _first_output(nodes, after)
        nodes[-1]["config"][info.fed_by] = start
    return new_id


def _without(removed: str, connections: list[dict], *, reconnect: bool) -> list[dict]:
    """The connections once ``removed`` is gone: with ``reconnect``, what led into it
    leads to what it led to (a branch label stays with its source), in the place the
    connection into it had, so the flow holds and reads in the same order."""
    out = [c for c in connections if c.get("from") == removed and c.get("to") != removed]
    kept: list[dict] = []
    for connection in connections:
        if removed not in (connection.get("from"), connection.get("to")):
            kept.append(connection)
        elif reconnect and connection.get("to") == removed and connection.get("from") != removed:
            for following in out:
                bridge = {k: v for k, v in connection.items() if k != "to"} | {"to": following.get("to")}
                if bridge not in kept and bridge not in connections:
                    kept.append(bridge)
    return kept


def _change_rows(node: dict, key: str | None, adding: bool, index: int | None) -> None:
    """Add a row to (or remove one from) the option ``key`` drawn as rows (the node's
    first such, if none); ``node.headers`` is an option of the node inside (a map's)."""
    if not isinstance(node.get("config"), dict):
        node["config"] = {}
    config = node["config"]
    if key and "." in key:
        outer, _, rest = key.partition(".")
        if isinstance(config.get(outer), dict):
            _change_rows(config[outer], rest, adding, index)
        return
    options = {o.key: o for o in row_options(node.get("type"), config)}
    option = options.get(key) if key else next(iter(options.values()), None)
    if option is None:
        return
    if option.kind == "fields":
        rows = config.get(option.key) if isinstance(config.get(option.key), list) else []
        if adding:
            taken = {r.get("name") for r in rows if isinstance(r, dict)}
            rows.append({"name": _fresh_id("field", taken), "type": "string"})
        elif index is not None and index < len(rows):
            rows.pop(index)
        config[option.key] = rows
        return
    mapping = config.get(option.key) if isinstance(config.get(option.key), dict) else {}
    items = list(mapping.items())
    if adding:
        items.append((_fresh_id("field", set(mapping)), ""))
    elif index is not None and index < len(items):
        items.pop(index)
    config[option.key] = dict(items)


# What a new HTTP tool starts as: one parameter, used in its query.
HTTP_TOOL_STARTER = {
    "name": "search",
    "description": "",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    "http": {"method": "GET", "url": "https://", "query": {"q": "{{ args.q }}"}},
}
_TOOL_STEM = re.compile(r"[^A-Za-z0-9_-]+")


def _change_tools(node: dict, parts: list[str], args: list[int], adding: bool, form) -> None:
    """Add a tool to an option of kind ``tools`` (a workflow picked in ``new_tool_workflow``,
    given as ``id name``, or an HTTP call), or remove the tool at an index."""
    config = node.get("config") if isinstance(node.get("config"), dict) else {}
    node["config"] = config
    key = next((o.key for o in options_for(node.get("type"), config) if o.kind == "tools"), None)
    if key is None:
        return
    tools = config.get(key) if isinstance(config.get(key), list) else []
    if not adding:
        if len(args) > 1 and args[1] < len(tools):
            tools.pop(args[1])
        config[key] = tools
        return
    taken = {t.get("name") for t in tools if isinstance(t, dict)}
    if "workflow" in parts:
        workflow_id, _, name = _text(form.get(f"new_tool_workflow_{args[0]}")).strip().partition(" ")
        if not workflow_id:
            return
        stem = _TOOL_STEM.sub("_", name.strip().lower()).strip("_")[:56] or "workflow"
        tools.append({"name": _fresh_id(stem, taken), "workflow_id": workflow_id})
    else:
        tools.append({**copy.deepcopy(HTTP_TOOL_STARTER), "name": _fresh_id(HTTP_TOOL_STARTER["name"], taken)})
    config[key] = tools


def _fresh_id(stem: str, taken: set) -> str:
    if stem not in taken:
        return stem
    number = 2
    while f"{stem}_{number}" in taken:
        number += 1
    return f"{stem}_{number}"


def _first_output(nodes: list[dict], after: str) -> str:
    """``{{ after.<its first output> }}``: what a new node starts from."""
    outputs = _outputs(nodes, after, lists=False)
    return f"{{{{ {after}.{outputs[0]} }}}}" if outputs else ""


def _nearest_list(nodes: list[dict], connections: list[dict], after: str) -> str:
    """``{{ node.<a list it gives> }}`` for ``after`` or the nearest node upstream of it
    that gives one (a map's items): nothing when none does."""
    seen, frontier = {after}, [after]
    while frontier:
        for node_id in frontier:
            lists = _outputs(nodes, node_id, lists=True)
            if lists:
                return f"{{{{ {node_id}.{lists[0]} }}}}"
        above = (
            c.get("from")
            for c in connections
            if c.get("to") in frontier and isinstance(c.get("from"), str) and c.get("from") not in seen
        )
        frontier = list(dict.fromkeys(above))
        seen.update(frontier)
    return ""


def _outputs(nodes: list[dict], node_id: str, *, lists: bool) -> tuple[str, ...]:
    source = next((n for n in nodes if n.get("id") == node_id), {})
    info = describe(source.get("type"))
    config = source.get("config") if isinstance(source.get("config"), dict) else {}
    if info is None:
        return ()
    return info.lists_for(config) if lists else info.outputs_for(config)
