"""JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of every body the API reads or writes.

Built from a few helpers so each shape reads like its description in SPEC.md, and
from the engine's own constants (node id pattern, node types, statuses, error
codes), so the document cannot drift from what the code accepts. Request schemas
describe what a valid request looks like; response schemas are strict
(``additionalProperties: false``), so a stray or missing field fails the tests.
"""

from __future__ import annotations

import copy
from typing import Any

from ..engine import node_types
from ..engine.errors import EXECUTION_ERROR_CODES
from ..engine.node_types import BRANCHES, MISSING, NODE_ID, ON_ERROR, RESERVED_IDS, NodeTypeInfo, Option, Size
from ..engine.status import NodeStatus, RunStatus, Trigger
from ..services import providers, triggers
from ..services.workflows import EXPORT_FORMAT, EXPORT_VERSION, READ_ONLY_FIELDS

NOT_BLANK = r"\S"  # at least one non-space character


# -- helpers ---------------------------------------------------------------------------


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


def prefixed_id(prefix: str) -> dict:
    """Ids are ``<prefix>_`` and 26 time-ordered lower-case Crockford characters."""
    return string(pattern=f"^{prefix}_[0-9a-z]{{26}}$", examples=[f"{prefix}_01jc7m2kq3x8v4n5p6r7s8t9wa"])


def timestamp(*, null: bool = False) -> dict:
    """ISO 8601 UTC with milliseconds and ``Z``, as SPEC.md fixes for every time."""
    schema = string(
        format="date-time",
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
        examples=["2025-01-31T09:30:00.123Z"],
    )
    return nullable(schema) if null else schema


def count() -> dict:
    return integer(minimum=0)


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def list_of(key: str, item: str) -> dict:
    """A page of a listing: the items, the total across pages, and whether more follow."""
    return obj({key: array(ref(item)), "total": count(), "has_more": boolean()})


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


def definition_properties(size: Size) -> dict:
    return {
        "nodes": array(ref("Node"), maxItems=size.max_nodes),
        "connections": array(ref("Connection"), maxItems=size.max_connections),
    }


# -- workflows -------------------------------------------------------------------------

SUMMARY_PROPERTIES = {
    "id": prefixed_id("wf"),
    "name": string(minLength=1, maxLength=200),
    "description": string(),
    "category": string(maxLength=64),
    "public": boolean(),
    "created_by": prefixed_id("user"),
    "created_at": timestamp(),
    "updated_at": timestamp(),
    "usage_count": count(),
    "rating": nullable(number(minimum=1, maximum=5, description="The mean rating, one decimal.")),
}


def workflow_schemas(size: Size) -> dict:
    definition = definition_properties(size)
    settable = {
        "name": string(minLength=1, maxLength=200, pattern=NOT_BLANK),
        "description": nullable(string(maxLength=10_000)),
        "category": nullable(string(maxLength=64, default="general")),
        "public": boolean(default=False),
        "nodes": definition["nodes"],
        "connections": nullable(definition["connections"]),
    }
    # Fields a client may send back as it read them: accepted and ignored.
    ignored = {name: {"readOnly": True, "description": "Ignored."} for name in sorted(READ_ONLY_FIELDS)}
    exported = obj({"name": SUMMARY_PROPERTIES["name"], "description": string(), "category": string(), **definition})
    return {
        "WorkflowSummary": obj(SUMMARY_PROPERTIES, description="Exactly the fields of a list item."),
        "Workflow": obj(
            {**SUMMARY_PROPERTIES, "version": integer(minimum=1), **definition},
            description="A summary plus the version and the definition.",
        ),
        "WorkflowList": list_of("workflows", "WorkflowSummary"),
        "WorkflowCreate": obj({**settable, **ignored}, ["name", "nodes"]),
        "WorkflowUpdate": obj(
            {**settable, **ignored},
            [],
            description="Fields left out keep their values; a changed definition bumps 'version'.",
        ),
        "RatingRequest": obj({"rating": integer(minimum=1, maximum=5)}, additional=True),
        "CloneRequest": obj(
            {"name": settable["name"]},
            [],
            additional=True,
            description="Optional; the copy is named after the original unless 'name' is given.",
        ),
        "FromTemplateRequest": obj(
            {
                "template_id": string(examples=["tpl_01jc7m2kq3x8v4n5p6r7s8t9wa"]),
                "name": settable["name"],
                "description": settable["description"],
                "public": settable["public"],
            },
            ["template_id"],
        ),
        "ExportDocument": obj(
            {
                "format": {"const": EXPORT_FORMAT},
                "format_version": {"const": EXPORT_VERSION},
                "exported_at": timestamp(),
                "workflow": exported,
            }
        ),
        "ImportDocument": obj(
            {
                "format": {"const": EXPORT_FORMAT},
                "format_version": {"const": EXPORT_VERSION},
                "exported_at": {"description": "Ignored."},
                "workflow": ref("WorkflowCreate"),
            },
            ["format", "format_version", "workflow"],
        ),
        "ImportRequest": {
            "anyOf": [ref("ImportDocument"), ref("WorkflowCreate")],
            "description": "An export document, or (leniently) a create body. The new workflow is always private.",
        },
    }


# -- executions ------------------------------------------------------------------------

EXECUTION_USAGE = obj(
    {
        "prompt_tokens": count(),
        "completion_tokens": count(),
        "total_tokens": count(),
        "cost_usd": number(minimum=0),
        "cost_saved_usd": number(minimum=0, description="Spared by the cache or a retry."),
    }
)
NODE_USAGE = obj(
    {
        "prompt_tokens": nullable(count()),
        "completion_tokens": nullable(count()),
        "total_tokens": nullable(count()),
        "cost_usd": number(minimum=0),
    },
    description="Null token counts: the model server did not report usage.",
)
EXECUTION_ERROR = obj(
    {
        "code": enum(sorted(EXECUTION_ERROR_CODES)),
        "message": string(),
        "node_id": nullable(string()),
    }
)
NODE_RUN = obj(
    {
        "node_id": string(),
        "type": string(),
        "status": enum(tuple(NodeStatus)),
        "started_at": timestamp(null=True),
        "finished_at": timestamp(null=True),
        "duration_ms": nullable(count()),
        "input": {"description": "What the node worked on (a rendered prompt, an evaluated input…); any JSON."},
        "output": {"description": "The node's output; any JSON, null unless completed."},
        "error": nullable(obj({"code": string(), "message": string()})),
        "usage": ref("NodeUsage"),
        "cost_saved_usd": number(minimum=0),
        "cached": boolean(),
        "attempts": count(),
        "reused_from": nullable(prefixed_id("exec")),
    }
)
EXECUTION_PROPERTIES = {
    "id": prefixed_id("exec"),
    "workflow_id": prefixed_id("wf"),
    "workflow_version": integer(minimum=1),
    "retry_of": nullable(prefixed_id("exec")),
    "trigger": enum(tuple(Trigger), description="What started it."),
    "trigger_id": nullable(prefixed_id("trg")),
    "parent_execution_id": nullable(prefixed_id("exec")),
    "status": enum(tuple(RunStatus)),
    "inputs": obj({}, [], additional=True),
    "outputs": nullable(obj({}, [], additional=True)),
    "error": nullable(ref("ExecutionError")),
    "created_at": timestamp(),
    "started_at": timestamp(null=True),
    "finished_at": timestamp(null=True),
    "duration_ms": nullable(count()),
    "usage": ref("ExecutionUsage"),
}
ACCEPTED_PROPERTIES = {
    "execution_id": prefixed_id("exec"),
    "status": enum(
        tuple(RunStatus),
        description="'queued' for a new execution; a repeated Idempotency-Key answers with "
        "the first execution's status.",
    ),
    "status_url": string(format="uri"),
}
EXECUTION_SCHEMAS = {
    "ExecuteRequest": obj(
        {
            "inputs": nullable(obj({}, [], additional=True, description="Checked against the input node's fields.")),
            "async": boolean(default=False),
        },
        [],
    ),
    "Execution": obj({**EXECUTION_PROPERTIES, "nodes": array(ref("NodeRun"))}),
    "ExecutionSummary": obj(EXECUTION_PROPERTIES, description="An execution without its nodes."),
    "ExecutionList": list_of("executions", "ExecutionSummary"),
    "ExecutionAccepted": obj(ACCEPTED_PROPERTIES),
    "RetryAccepted": obj(
        {**EXECUTION_PROPERTIES, "nodes": array(ref("NodeRun")), **ACCEPTED_PROPERTIES},
        description="The new execution, with where to follow it.",
    ),
    "ExecutionError": EXECUTION_ERROR,
    "ExecutionUsage": EXECUTION_USAGE,
    "NodeRun": NODE_RUN,
    "NodeUsage": NODE_USAGE,
}

# -- templates, usage, audit, errors -----------------------------------------------------

USAGE_ENTRY = {
    "executions": count(),
    "prompt_tokens": count(),
    "completion_tokens": count(),
    "total_tokens": count(),
    "cost_usd": number(minimum=0),
}
TRIGGER_COMMON = {
    "id": prefixed_id("trg"),
    "workflow_id": prefixed_id("wf"),
    "enabled": boolean(),
    "created_at": timestamp(),
}
SCHEDULE_PROPERTIES = {
    "cron": nullable(string(description="Five fields: minute hour day month weekday.", examples=["*/5 * * * *"])),
    "interval_seconds": nullable(integer(minimum=1, description="At least the server's SCHEDULE_MIN_INTERVAL.")),
    "timezone": string(description="An IANA zone; the cron is read in it.", examples=["Europe/Paris"]),
    "inputs": obj({}, [], additional=True, description="The inputs of every run."),
}
PROVIDER_PRICES = obj(
    {},
    [],
    additional=obj({"prompt": number(minimum=0), "completion": number(minimum=0)}),
    description="USD per 1M tokens, per model.",
)
TRIGGER_SCHEMAS = {
    "WebhookTrigger": obj(
        {
            **TRIGGER_COMMON,
            "type": {"const": "webhook"},
            "url": string(format="uri", description="POST JSON inputs here; the token in it is the secret."),
        }
    ),
    "ScheduleTrigger": obj(
        {
            **TRIGGER_COMMON,
            "type": {"const": "schedule"},
            **SCHEDULE_PROPERTIES,
            "next_run_at": timestamp(null=True),
            "last_run_at": timestamp(null=True),
        }
    ),
    "Trigger": {
        "oneOf": [ref("WebhookTrigger"), ref("ScheduleTrigger")],
        "discriminator": {
            "propertyName": "type",
            "mapping": {
                "webhook": "#/components/schemas/WebhookTrigger",
                "schedule": "#/components/schemas/ScheduleTrigger",
            },
        },
    },
    "TriggerList": obj({"triggers": array(ref("Trigger"))}),
    "TriggerRequest": obj(
        {
            "type": enum(triggers.TYPES),
            "cron": nullable(string()),
            "interval_seconds": nullable(integer(minimum=1)),
            "timezone": nullable(string(default="UTC")),
            "inputs": nullable(obj({}, [], additional=True)),
        },
        ["type"],
        description="A schedule gives exactly one of cron and interval_seconds; a webhook nothing else.",
    ),
    "TriggerUpdate": obj(
        {
            "enabled": boolean(),
            "cron": nullable(string()),
            "interval_seconds": nullable(integer(minimum=1)),
            "timezone": string(),
            "inputs": obj({}, [], additional=True),
        },
        [],
        description="Giving cron or interval_seconds replaces the schedule's timing (the other is cleared).",
    ),
    "HookResult": obj(
        {
            "execution_id": prefixed_id("exec"),
            "status": enum(tuple(RunStatus)),
            "outputs": nullable(obj({}, [], additional=True)),
        }
    ),
    "HookAccepted": obj({"execution_id": prefixed_id("exec"), "status": enum(tuple(RunStatus))}),
}
PROVIDER_FIELDS = {  # what a provider's POST and PATCH may say, with the service's bounds
    "name": string(minLength=1, maxLength=providers.NAME_MAX, pattern=NOT_BLANK),
    "base_url": string(format="uri", pattern="^https?://", maxLength=providers.URL_MAX),
    "api_key": nullable(string(maxLength=providers.KEY_MAX)),
    "models": array(string(minLength=1, pattern=NOT_BLANK)),
    "prices": PROVIDER_PRICES,
}
PROVIDER_SCHEMAS = {
    "Provider": obj(
        {
            "id": {"anyOf": [prefixed_id("prv"), {"const": "default"}]},
            "name": string(minLength=1, maxLength=providers.NAME_MAX),
            "base_url": string(format="uri"),
            "api_key_set": boolean(),
            "api_key_last4": nullable(string(maxLength=4)),
            "models": array(string()),
            "prices": PROVIDER_PRICES,
            "created_at": timestamp(null=True),
        }
    ),
    "ProviderList": obj({"providers": array(ref("Provider"), description="The server's own first, as 'default'.")}),
    "ProviderRequest": obj(PROVIDER_FIELDS, ["name", "base_url"]),
    "ProviderUpdate": obj(PROVIDER_FIELDS, []),
    "ModelList": obj({"models": array(string())}),
}
OTHER_SCHEMAS = {
    "Template": obj(
        {
            "id": prefixed_id("tpl"),
            "name": string(),
            "description": string(),
            "category": string(),
            "how_to_use": string(),
            "usage_count": count(),
            "nodes": array(ref("Node")),
            "connections": array(ref("Connection")),
        }
    ),
    "TemplateList": list_of("templates", "Template"),
    "UsageTotals": obj(USAGE_ENTRY),
    "UsageReport": obj(
        {
            "days": integer(minimum=1, maximum=366),
            "since": string(format="date", description="The first day counted (UTC)."),
            "workflow_id": nullable(string()),
            "totals": ref("UsageTotals"),
            "by_day": array(obj({"date": string(format="date"), **USAGE_ENTRY}), description="Oldest day first."),
            "by_workflow": array(
                obj({"workflow_id": prefixed_id("wf"), "name": string(), **USAGE_ENTRY}), description="Costliest first."
            ),
        }
    ),
    "AuditEvent": obj(
        {
            "id": prefixed_id("evt"),
            "at": timestamp(),
            "actor": string(),
            "action": string(examples=["workflow.created"]),
            "target_type": nullable(string()),
            "target_id": nullable(string()),
            "ip": nullable(string()),
        }
    ),
    "AuditList": list_of("events", "AuditEvent"),
    "ErrorDetail": obj({"path": string(examples=["nodes[1].config.prompt"]), "code": string(), "message": string()}),
}


def error_schema() -> dict:
    """The one envelope. A 429 or 503 also says how long to wait (as its Retry-After header does)."""
    return obj(
        {
            "error": obj(
                {
                    "code": string(),
                    "message": string(),
                    "details": array(ref("ErrorDetail")),
                    "retry_after": integer(minimum=0, description="Seconds to wait; 429 and 503 only."),
                },
                ["code", "message", "details"],
            )
        }
    )


def schemas(size: Size) -> dict:
    """Every named schema of the document, for ``components.schemas``."""
    return {
        **node_schemas(),
        "Connection": CONNECTION,
        **workflow_schemas(size),
        **EXECUTION_SCHEMAS,
        **OTHER_SCHEMAS,
        **TRIGGER_SCHEMAS,
        **PROVIDER_SCHEMAS,
        "Error": error_schema(),
    }
