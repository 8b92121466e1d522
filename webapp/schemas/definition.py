"""The JSON Schemas of a workflow definition, derived from the node catalogue.

Each node type describes its options once (``engine/nodes``); the schema of its
``config`` is drawn from those declarations (kind, bounds, choices, default, help), so
the document cannot drift from what the engine accepts. The engine validates a
definition itself (every problem with its path, and the rules no schema can say:
references, cycles, branches); these schemas document it. They are plain JSON Schema,
not pydantic types: they come from data, not from Python annotations.
"""

from __future__ import annotations

import copy
from typing import Any

from ..engine import node_types
from ..engine.node_types import BRANCHES, MISSING, NODE_ID, ON_ERROR, RESERVED_IDS, NodeTypeInfo, Option, Size
from ..engine.nodes.input import FIELD_TYPES
from ..engine.tools import MAX_PARAMETERS, MAX_TOOLS, TOOL_NAME
from .base import NOT_BLANK


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    """The same schema, also allowing ``null`` (``type: [..., "null"]``)."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    schema = copy.deepcopy(schema)
    kind = schema.get("type")
    if kind is None:
        return schema  # no type: anything, null included
    schema["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def obj(properties: dict, required: list[str] | None = None, *, additional: bool | dict = False, **extra) -> dict:
    """An object of ``properties``; all of them required unless ``required`` says otherwise."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    if additional is not True:
        schema["additionalProperties"] = additional
    return {**schema, **extra}


def array(items: dict, **extra) -> dict:
    return {"type": "array", "items": items, **extra}


def string(**extra) -> dict:
    return {"type": "string", **extra}


def integer(**extra) -> dict:
    return {"type": "integer", **extra}


def number(**extra) -> dict:
    return {"type": "number", **extra}


def boolean(**extra) -> dict:
    return {"type": "boolean", **extra}


def enum(values, **extra) -> dict:
    return {"type": "string", "enum": list(values), **extra}


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# -- the workflow definition -----------------------------------------------------------

NODE_ID_SCHEMA = string(
    pattern=NODE_ID.pattern,
    # The Jinja2 words a node could be named but never referred to by, in any case.
    **{"not": {"pattern": f"^(?:{'|'.join(_any_case(w) for w in sorted(RESERVED_IDS))})$"}},
    description="Unique within the workflow; letters, digits and _, not starting with a digit, at most 64; "
    "not one of " + ", ".join(sorted(RESERVED_IDS)) + " (in any case).",
)
TEMPLATE = string(description="A Jinja2 template, rendered in the sandbox; may refer to upstream nodes by id.")
TEMPLATES = obj(
    {},
    [],
    additional=TEMPLATE,
    minProperties=1,
    propertyNames={"pattern": NOT_BLANK},
    description="An object of name → template.",
)


TOOL_PARAMETERS = obj(
    {
        "type": {"const": "object"},
        "properties": obj(
            {},
            [],
            additional=obj(
                {
                    "type": enum(FIELD_TYPES),
                    "description": nullable(string()),
                    "enum": nullable(array({}, minItems=1)),
                    "maxLength": nullable(integer(minimum=1)),
                    "maxItems": nullable(integer(minimum=1)),
                },
                ["type"],
            ),
            maxProperties=MAX_PARAMETERS,
        ),
        "required": nullable(array(string())),
        "additionalProperties": nullable(boolean()),
        "description": nullable(string()),
    },
    [],
    description="The tool's parameters as JSON Schema: an object of typed properties (the types of input fields).",
)
_TOOL_COMMON = {
    "name": string(pattern=TOOL_NAME, description="What the model calls it by."),
    "description": nullable(string(description="What it does, for the model.")),
}
WORKFLOW_TOOL = obj(
    {**_TOOL_COMMON, "workflow_id": string(description="A workflow you may read; its inputs are the parameters.")},
    ["name", "workflow_id"],
    title="Workflow tool",
)


def http_tool_schema() -> dict:
    http = node_types.describe("http_request")
    return obj(
        {
            **_TOOL_COMMON,
            "parameters": nullable(TOOL_PARAMETERS),
            "http": {**config_schema(http), "description": "An http_request config; its templates also see args."},
        },
        ["name", "http"],
        title="HTTP tool",
    )


def option_schema(option: Option, owner: str = "") -> dict:
    """An option's JSON Schema, from its declaration: its kind, bounds, choices and
    default (``owner``: the node type, which names the items of a list option)."""
    kind = option.kind
    if kind in ("template", "template_line"):
        schema = dict(TEMPLATE)
    elif kind == "templates":
        schema = dict(TEMPLATES) if not option.allow_empty else {**TEMPLATES, "minProperties": 0}
    elif kind == "expression":
        schema = string(pattern=NOT_BLANK, description="A Jinja2 expression.")
    elif kind == "choice":
        schema = enum(option.values)
    elif kind in ("number", "integer"):
        bounds = {k: v for k, v in (("minimum", option.minimum), ("maximum", option.maximum)) if v is not None}
        schema = (integer if kind == "integer" else number)(**bounds)
    elif kind == "boolean":
        schema = boolean()
    elif kind == "group":
        schema = {"type": ["integer", "string"]}
    elif kind == "fields":
        schema = array(ref(item_schema_name(owner, option)))
    elif kind == "node":
        inner = [info for info in map(node_types.describe, option.values) if info is not None]
        schema = {"oneOf": [inner_node_schema(info) for info in inner]}
    elif kind == "tools":
        schema = array({"oneOf": [WORKFLOW_TOOL, http_tool_schema()]}, maxItems=MAX_TOOLS)
    elif kind == "value":
        schema = {}
    elif kind == "values":
        schema = array({}, minItems=1)
    else:  # text, code, separator
        schema = string(pattern=option.pattern) if option.pattern else string()
    schema["title"] = option.label
    if option.default is not MISSING:
        schema["default"] = option.default
    words = [schema.get("description", ""), option.help]
    if option.when is not None:
        words.append(f"For {' and '.join(option.when)}.")
    if description := " ".join(w for w in words if w):
        schema["description"] = description
    return schema


def item_schema_name(owner: str, option: Option) -> str:
    """The component for one item of a list option: an input's ``fields`` hold ``InputField``s."""
    return _title(owner) + _title(option.key).removesuffix("s")


def config_schema(info: NodeTypeInfo) -> dict:
    properties, variants = {}, info.variants
    if variants is not None and variants.stored:
        properties[variants.key] = enum(variants.values, description=variants.label + ".")
    for option in info.options:
        schema = option_schema(option, info.name)
        properties[option.key] = schema if option.required and option.when is None else nullable(schema)
    words = [info.summary]
    if variants is not None:
        words.append(
            f"Each {variants.key} reads only its own options; any other option is refused."
            if variants.stored
            else f"Exactly one of {' and '.join(repr(o.key) for o in info.options if o.required and o.when)}."
        )
    return obj(properties, list(info.always_required), description=" ".join(w for w in words if w))


def _config_property(info: NodeTypeInfo) -> tuple[dict, bool]:
    """A node's ``config`` schema, and whether it must be given."""
    required = any(o.required for o in info.options) or bool(info.variants and info.variants.stored)
    config = config_schema(info)
    return (config if required else nullable(config)), required


def node_schema(info: NodeTypeInfo) -> dict:
    config, required = _config_property(info)
    return obj(
        {
            "id": NODE_ID_SCHEMA,
            "type": {"const": info.name},
            "name": nullable(string(maxLength=200)),
            "config": config,
            "on_error": enum(ON_ERROR, default="fail"),
        },
        ["id", "type", "config"] if required else ["id", "type"],
    )


def inner_node_schema(info: NodeTypeInfo) -> dict:
    """A node inside another (a map's): its type and config, no id."""
    config, required = _config_property(info)
    return obj({"type": {"const": info.name}, "config": config}, ["type", "config"] if required else ["type"])


def _title(name: str) -> str:
    return "".join(part.title() for part in name.split("_")).replace("Ai", "AI")


def _node_name(kind: str) -> str:
    return _title(kind) + "Node"


def node_schemas() -> dict:
    """A schema per node type, the ``Node`` choice between them, and what their list options hold."""
    types = node_types.all_types()
    found = {_node_name(info.name): node_schema(info) for info in types}
    found["Node"] = {
        "oneOf": [ref(_node_name(info.name)) for info in types],
        "discriminator": {
            "propertyName": "type",
            "mapping": {info.name: f"#/components/schemas/{_node_name(info.name)}" for info in types},
        },
    }
    for owner, option in ((info.name, option) for info in types for option in info.options if option.items):
        required = [item.key for item in option.items if item.required]
        found[item_schema_name(owner, option)] = obj(
            {
                item.key: option_schema(item) if item.required else nullable(option_schema(item))
                for item in option.items
            },
            required,
        )
    return found


CONNECTION = obj(
    {
        "from": string(description="A node id."),
        "to": string(description="A node id."),
        "branch": nullable(
            enum(
                BRANCHES,
                description="'true'/'false' only from a conditional; 'error' only from a node with on_error 'branch'.",
            )
        ),
    },
    ["from", "to"],
)


def definition_schemas(size: Size) -> dict:
    """Every component of the definition: nodes by type, their choice, connections,
    and the two lists with the deployment's bounds."""
    return {
        **node_schemas(),
        "Connection": CONNECTION,
        "Nodes": array(ref("Node"), maxItems=size.max_nodes),
        "Connections": array(ref("Connection"), maxItems=size.max_connections),
    }
