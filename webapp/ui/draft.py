"""The editor's form, read back: posted fields (or the JSON tab) become a
definition again, and structural edits (add or remove a node, a row, a
connection) change a draft.

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
from ..engine.nodes.processing import OPERATIONS
from .editor_schema import INPUT_ROW_SPECS, MISSING, NEW_NODE_CONFIG, NEW_NODE_IDS, NODE_TYPES, Spec, specs_for

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
    node_keys = set(keys.get("node", [])) if isinstance(keys, dict) else set()
    config_keys = set(keys.get("config", [])) if isinstance(keys, dict) else set()
    extra = _extra(raw.get("_extra"), base, problems)
    node: dict = {"id": _text(raw.get("id")).strip(), "type": kind}
    name = _text(raw.get("name"))
    if name or "name" in node_keys:
        node["name"] = name
    config_raw = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    config = _read_config(base, kind, config_raw, _text(raw.get("mode")), config_keys, problems)
    config.update(extra.get("config") or {})
    node["config"] = config
    on_error = _text(raw.get("on_error")) or "fail"
    if on_error != "fail" or "on_error" in node_keys:
        node["on_error"] = on_error
    node.update(extra.get("node") or {})
    return node


def _read_config(base: str, kind: str, raw: dict, mode: str, keys: set, problems: list[Problem]) -> dict:
    config: dict = {}
    operation = None
    if kind == "processing":
        operation = _text(raw.get("operation")) or "template"
        config["operation"] = operation
        if operation not in OPERATIONS:
            return config
    if kind == "output":
        mode = mode if mode in ("fields", "template") else ("template" if "template" in raw else "fields")
    for spec in specs_for(kind, {}, operation=operation, mode=mode or None):
        value = _read_value(spec, raw.get(spec.key, MISSING), spec.key in keys)
        if value is not MISSING:
            config[spec.key] = value
    if kind == "input":
        config["fields"] = [
            _read_input_row(f"{base}.config.fields[{i}]", raw["fields"][i], problems)
            for i in sorted(_rows(raw.get("fields")))
        ]
    elif kind == "output":
        if mode == "fields":
            if "template" in raw:  # switched from one template: it becomes the first field
                config["fields"] = {"result": _text(raw.get("template"))}
            else:
                config["fields"] = _read_named(f"{base}.config.fields", raw.get("fields"), problems) or {}
        elif "template" not in raw and _rows(raw.get("fields")):  # switched from named fields: keep the first
            named = _read_named(f"{base}.config.fields", raw.get("fields"), problems) or {}
            config["template"] = next(iter(named.values()), "")
    elif kind == "processing" and operation == "merge":
        config["values"] = _read_named(f"{base}.config.values", raw.get("values"), problems) or {}
    return config


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


def _read_input_row(path: str, raw: Any, problems: list[Problem]) -> dict:
    raw = raw if isinstance(raw, dict) else {}
    keys = set(_json_or(raw.get("_keys"), []) or [])
    row: dict = {}
    kind = _text(raw.get("type")) or "string"
    for spec in INPUT_ROW_SPECS:
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


def read_json(text: str) -> Draft:
    """The JSON tab: a definition, a workflow, or an export document, as text."""
    try:
        document = jsontext.loads(text)
    except ValueError as exc:
        return Draft({}, [Problem("definition_json", "syntax_error", f"not valid JSON: {exc}")])
    if isinstance(document, dict) and isinstance(document.get("workflow"), dict):
        document = document["workflow"]
    if not isinstance(document, dict):
        return Draft(
            {},
            [Problem("definition_json", "invalid_value", "the JSON must be an object with 'nodes' and 'connections'")],
        )
    return Draft({"nodes": document.get("nodes"), "connections": document.get("connections") or []}, [])


def as_json(definition: dict) -> str:
    return json.dumps(definition, indent=2, ensure_ascii=False)


# -- changing the shape ------------------------------------------------------------------------------


def apply_action(definition: dict, action: str, form) -> dict:
    """Structural edits: add or remove nodes, rows and connections (on a copy)."""
    definition = copy.deepcopy(definition)
    nodes = [n for n in definition.get("nodes") or [] if isinstance(n, dict)]
    connections = [c for c in definition.get("connections") or [] if isinstance(c, dict)]
    verb, _, rest = action.partition(":")
    args = [int(a) for a in rest.split(":") if a.isdigit()]
    if verb == "add_node":
        kind = form.get("new_node_type", "ai_model")
        if kind in NODE_TYPES:
            new_id = _fresh_id(NEW_NODE_IDS[kind], {n.get("id") for n in nodes})
            after = form.get("new_node_after", "")
            nodes.append({"id": new_id, "type": kind, "config": copy.deepcopy(NEW_NODE_CONFIG[kind])})
            if after and after in {n.get("id") for n in nodes} and kind != "input":
                connections.append({"from": after, "to": new_id})
            if after and kind in ("ai_model", "processing"):  # start from what comes in
                key = "prompt" if kind == "ai_model" else "template"
                nodes[-1]["config"][key] = _starter_prompt(nodes, after)
    elif verb == "remove_node" and args and args[0] < len(nodes):
        removed = nodes.pop(args[0]).get("id")
        connections = [c for c in connections if removed not in (c.get("from"), c.get("to"))]
    elif verb == "move_node" and len(args) == 2 and args[0] < len(nodes):
        target = args[0] + (1 if args[1] else -1)
        if 0 <= target < len(nodes):
            nodes[args[0]], nodes[target] = nodes[target], nodes[args[0]]
    elif verb == "add_connection":
        ids = [n.get("id") for n in nodes]
        connections.append({"from": ids[-2] if len(ids) > 1 else "", "to": ids[-1] if ids else ""})
    elif verb == "remove_connection" and args and args[0] < len(connections):
        connections.pop(args[0])
    elif verb in ("add_row", "remove_row") and args and args[0] < len(nodes):
        _change_rows(nodes[args[0]], verb == "add_row", args[1] if len(args) > 1 else None)
    return {"nodes": nodes, "connections": connections}


def _change_rows(node: dict, adding: bool, index: int | None) -> None:
    if not isinstance(node.get("config"), dict):
        node["config"] = {}
    config = node["config"]
    kind = node.get("type")
    if kind == "input":
        rows = config.get("fields") if isinstance(config.get("fields"), list) else []
        if adding:
            taken = {r.get("name") for r in rows if isinstance(r, dict)}
            rows.append({"name": _fresh_id("field", taken), "type": "string"})
        elif index is not None and index < len(rows):
            rows.pop(index)
        config["fields"] = rows
        return
    key = "values" if kind == "processing" else "fields"
    mapping = config.get(key) if isinstance(config.get(key), dict) else {}
    items = list(mapping.items())
    if adding:
        items.append((_fresh_id("field", set(mapping)), ""))
    elif index is not None and index < len(items):
        items.pop(index)
    config[key] = dict(items)


def _fresh_id(stem: str, taken: set) -> str:
    if stem not in taken:
        return stem
    number = 2
    while f"{stem}{number}" in taken:
        number += 1
    return f"{stem}{number}"


def _starter_prompt(nodes: list[dict], after: str) -> str:
    source = next((n for n in nodes if n.get("id") == after), {})
    if source.get("type") == "input":
        fields = (source.get("config") or {}).get("fields") or []
        name = next((f.get("name") for f in fields if isinstance(f, dict) and f.get("name")), None)
        return f"{{{{ {after}.{name} }}}}" if name else ""
    field_name = {"ai_model": "text", "processing": "value", "conditional": "result"}.get(source.get("type"), "value")
    return f"{{{{ {after}.{field_name} }}}}"
