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

from ..engine.definition import BRANCHES, NODE_ID, ON_ERROR, RESERVED_IDS, Size
from ..engine.errors import EXECUTION_ERROR_CODES
from ..engine.nodes.input import FIELD_NAME, FIELD_TYPES
from ..engine.nodes.output import FORMATS
from ..engine.nodes.processing import OPERATIONS
from ..engine.status import NodeStatus, RunStatus
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

INPUT_FIELD = obj(
    {
        "name": string(pattern=FIELD_NAME.pattern),
        "type": enum(FIELD_TYPES, default="string"),
        "required": nullable(boolean(default=False)),
        "default": {"description": "Used when the input is left out; must match the field's type."},
        "description": nullable(string()),
        "label": nullable(string()),
        "max_length": nullable(integer(minimum=1, description="For string and array fields.")),
        "enum": nullable(array({}, minItems=1)),
    },
    ["name"],
)

NODE_CONFIGS = {
    "input": (False, obj({"fields": nullable(array(ref("InputField")))}, [])),
    "ai_model": (
        True,
        obj(
            {
                "model": nullable(string(examples=["gpt-4o-mini"])),
                "prompt": TEMPLATE,
                "system": nullable(TEMPLATE),
                "temperature": nullable(number(minimum=0, maximum=2)),
                "max_tokens": nullable(integer(minimum=1, maximum=1_000_000)),
                "response_format": nullable(enum(("text", "json"), default="text")),
                "cache": nullable(boolean(default=True)),
                "timeout": nullable(number(minimum=0.1, maximum=3600, description="Seconds.")),
                "retries": nullable(integer(minimum=0, maximum=10)),
            },
            ["prompt"],
        ),
    ),
    "processing": (
        True,
        obj(
            {
                "operation": enum(OPERATIONS),
                "input": nullable(
                    {
                        **TEMPLATE,
                        "description": "The value operated on; required for every operation but template and merge.",
                    }
                ),
                "template": nullable({**TEMPLATE, "description": "For operation template."}),
                "values": nullable({**TEMPLATES, "description": "For operation merge: an object of name → template."}),
                "path": nullable(string(description="For extract: a dotted path.")),
                "pattern": nullable(string(description="For regex_extract.")),
                "group": nullable({"type": ["integer", "string"], "description": "For regex_extract."}),
                "separator": nullable(string(description="For split and join.")),
                "length": nullable(integer(minimum=0, description="For truncate.")),
                "max_length": nullable(integer(minimum=1, description="For sanitize.")),
            },
            ["operation"],
            description="Each operation reads only its own options; any other option is refused.",
        ),
    ),
    "conditional": (
        True,
        obj(
            {
                "condition": string(
                    pattern=NOT_BLANK, description="A Jinja2 expression.", examples=["draft.text | length > 200"]
                ),
            }
        ),
    ),
    "output": (
        True,
        obj(
            {
                "fields": nullable(
                    {**TEMPLATES, "description": "Name → template; each lands in the execution's outputs."}
                ),
                "template": nullable({**TEMPLATE, "description": "One template; its value lands under the node's id."}),
                "format": nullable(enum(FORMATS, default="text")),
            },
            [],
            description="Exactly one of 'fields' and 'template'.",
        ),
    ),
}


def node_schema(kind: str) -> dict:
    config_required, config = NODE_CONFIGS[kind]
    return obj(
        {
            "id": NODE_ID_SCHEMA,
            "type": {"const": kind},
            "name": nullable(string(maxLength=200)),
            "config": config if config_required else nullable(config),
            "on_error": enum(ON_ERROR, default="fail"),
        },
        ["id", "type", "config"] if config_required else ["id", "type"],
    )


def _node_name(kind: str) -> str:
    return "".join(part.title() for part in kind.split("_")).replace("Ai", "AI") + "Node"


NODE = {
    "oneOf": [ref(_node_name(kind)) for kind in NODE_CONFIGS],
    "discriminator": {
        "propertyName": "type",
        "mapping": {kind: f"#/components/schemas/{_node_name(kind)}" for kind in NODE_CONFIGS},
    },
}
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
        **{_node_name(kind): node_schema(kind) for kind in NODE_CONFIGS},
        "Node": NODE,
        "InputField": INPUT_FIELD,
        "Connection": CONNECTION,
        **workflow_schemas(size),
        **EXECUTION_SCHEMAS,
        **OTHER_SCHEMAS,
        "Error": error_schema(),
    }
