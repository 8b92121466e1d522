"""GET /api/v1/openapi.json: the OpenAPI 3.1 document, generated from the routes.

Every route under /api/v1 and /hooks carries its ``@operation`` declaration
(``contract.py``); this module walks the app's URL map and writes each one out: its
parameters (from the path and the query schema), its body and answers (from the body
schemas in ``webapp/schemas``, through pydantic's JSON Schema), every error status
with the one envelope, and the rules past the schema that may still refuse a body.
The workflow definition's schemas come from the node catalogue, with the
deployment's bounds. A route without a declaration fails the build of the document.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from flask import Flask, current_app

from ..errors import NoTests, NothingToPublish, TestsFailed
from ..schemas.base import PageQuery, Query, json_schemas
from ..schemas.catalogue import Error
from ..schemas.definition import definition_schemas
from ..services.definitions import definition_size
from . import bp
from .contract import EVENT_STREAM, JSON, Answer, Operation, operation, operation_of

OpenApiDocument = dict[str, Any]

ERRORS = {  # status → (component name, description, the error codes it carries)
    400: ("BadRequest", "Malformed JSON, query parameters or request text.", ["bad_request"]),
    401: ("Unauthorized", "No API key, or not a valid one.", ["unauthorized"]),
    403: (
        "Forbidden",
        "Someone else's public workflow: it may be read, run and cloned, not changed (nor retried once private).",
        ["forbidden"],
    ),
    404: ("NotFound", "No such thing, or one the caller may not see.", ["not_found"]),
    405: ("MethodNotAllowed", "The path exists, the method does not (see the Allow header).", ["method_not_allowed"]),
    409: (
        "Conflict",
        "A conflict with what exists: the execution is in the wrong state for this, an Idempotency-Key is "
        "reused for another workflow, a name is taken; (nothing_to_publish) the draft is the published version; "
        "(tests_failed) the workflow requires passing tests and the draft has no test run that passed every case; "
        "(no_tests) a test run of a workflow without test cases.",
        ["conflict", NothingToPublish.code, TestsFailed.code, NoTests.code],
    ),
    413: (
        "PayloadTooLarge",
        "The request body is larger than the limit, or what it holds is past a bound of its own (a draft).",
        ["payload_too_large"],
    ),
    415: ("UnsupportedMediaType", "A body that is not sent as application/json.", ["unsupported_media_type"]),
    422: (
        "ValidationFailed",
        "A well-formed body that fails validation; 'details' lists every problem.",
        ["validation_error"],
    ),
    429: ("RateLimited", "Too many requests, or the monthly budget is used up.", ["rate_limited", "budget_exceeded"]),
    503: (
        "ServiceUnavailable",
        "The database is away for a moment (a restart or failover); try again after Retry-After.",
        ["service_unavailable"],
    ),
}
# The per-key (or, without a key, per-address) limit covers the whole API, and so may an outage.
EVERY = (429, 503)
AUTHENTICATED = (400, 401)  # any call needing a key can be malformed or unauthorised
WITH_BODY = (413, 415, 422)
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "string", "pattern": r"^\d+$"},
    }
}
ERROR_HEADERS = {
    405: {"Allow": {"description": "The methods the path allows.", "schema": {"type": "string"}}},
    429: RETRY_AFTER,
    503: RETRY_AFTER,
}
# What each path value names, as (thing, id prefix); ``None``: not an id.
PATH_VALUES = {
    "workflow_id": ("workflow", "wf"),
    "execution_id": ("execution", "exec"),
    "template_id": ("template", "tpl"),
    "trigger_id": ("trigger", "trg"),
    "provider_id": ("provider", "prv"),
    "test_id": ("test case", "tc"),
    "test_run_id": ("test run", "tr"),
    "token": None,
    "number": None,
}
# A path value documented by a name of its own (every other one is ``{id}``).
PATH_NAMES = {"token": "token", "number": "n"}
PATH_VALUE = re.compile(r"<(?:\w+:)?(\w+)>")
SHARED_QUERY = set(PageQuery.model_fields)  # documented once, under components.parameters
TAGS = ("workflows", "executions", "evaluations", "triggers", "providers", "templates", "usage", "audit", "meta")


def _path_parameter(name: str) -> dict:
    named = PATH_VALUES[name]
    if name == "number":
        return {
            "name": "n",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
            "description": "A published version's number.",
        }
    if named is None:
        return {
            "name": "token",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
            "description": "The webhook's secret token, as in its url.",
        }
    thing, prefix = named
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
        "description": f"The {thing}'s id ({prefix}_…).",
    }


def _documented_path(rule: str) -> str:
    """``/api/v1/workflows/<wf:workflow_id>`` as ``/api/v1/workflows/{id}``."""
    return PATH_VALUE.sub(lambda found: "{" + PATH_NAMES.get(found[1], "id") + "}", rule)


def _path_values(rule: str) -> list[str]:
    return PATH_VALUE.findall(rule)


def _without_null(schema: dict) -> dict:
    """A query value is left out, never null: its schema without the null."""
    schema = copy.deepcopy(schema)
    if isinstance(schema.get("type"), list):
        kinds = [kind for kind in schema["type"] if kind != "null"]
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    if "anyOf" in schema:
        rest = [option for option in schema.pop("anyOf") if option != {"type": "null"}]
        schema = {**rest[0], **schema} if len(rest) == 1 else {**schema, "anyOf": rest}
    return schema


def query_parameters(model: type[Query], components: dict) -> list[dict]:
    schema = components[model.__name__]
    parameters = []
    for name, value in schema["properties"].items():
        if name in SHARED_QUERY:
            parameters.append({"$ref": f"#/components/parameters/{name}"})
            continue
        parameters.append(_query_parameter(name, value))
    return parameters


def _query_parameter(name: str, schema: dict) -> dict:
    """A query parameter; sent empty (``?limit=``) it counts as left out."""
    schema = _without_null(schema)
    description = schema.pop("description", "")
    return {
        "name": name,
        "in": "query",
        "required": False,
        "allowEmptyValue": True,
        "schema": schema,
        "description": description,
    }


def _component_name(header: dict) -> str:
    return header["name"].replace("-", "")


def _on_the_wire(event: dict, components: dict) -> dict:
    """One event as an SSE stream carries it: its ``id`` is text (digits; none on what is made
    up from the database), its ``data`` JSON text whose content is the declared schema
    (``contentMediaType``/``contentSchema``)."""
    declared = components[event["$ref"].rpartition("/")[2]] if "$ref" in event else event
    properties = declared["properties"]
    said = properties["id"].get("description", "")
    return {
        **declared,
        "required": [name for name in declared.get("required", []) if name != "id"],
        "properties": {
            **properties,
            "id": {"type": "string", "pattern": "^[1-9][0-9]*$", "description": said},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": properties["data"]},
        },
    }


def _refusals_text(declared: Operation) -> str:
    lines = [f"- {r.status} `{r.code}`: {r.rule}" for r in declared.all_refusals]
    return "A body that matches its schema is still refused when:\n" + "\n".join(lines) if lines else ""


def _operation(declared: Operation, path_values: list[str], schemas: dict[Any, dict], components: dict) -> dict:
    statuses = set(declared.errors) | set(EVERY)
    if not declared.public:
        statuses |= set(AUTHENTICATED)
    if declared.body is not None:
        statuses |= set(WITH_BODY)
        if declared.invalid_body == 400:
            statuses.add(400)
    op: dict[str, Any] = {"operationId": declared.id, "summary": declared.summary, "tags": [declared.tag]}
    description = "\n\n".join(words for words in (declared.description, _refusals_text(declared)) if words)
    if description:
        op["description"] = description
    parameters = [_path_parameter(name) for name in path_values]
    if declared.query is not None:
        parameters += query_parameters(declared.query, components)
    parameters += [{"$ref": f"#/components/parameters/{_component_name(h)}"} for h in declared.headers]
    if parameters:
        op["parameters"] = parameters
    if declared.body is not None:
        content: dict[str, Any] = {"schema": schemas[(declared.body, "validation")]}
        if declared.example is not None:
            content["example"] = declared.example
        op["requestBody"] = {"required": declared.body_required, "content": {JSON: content}}
    responses: dict[str, Any] = {}
    for status, answer in declared.answers.items():
        response: dict[str, Any] = {"description": answer.description}
        if answer.headers:
            response["headers"] = answer.headers
        if answer.schema is not None:
            response["content"] = {answer.media_type: {"schema": schemas[(answer.schema, "serialization")]}}
        if answer.events is not None:
            event = schemas[(answer.events, "serialization")]
            response.setdefault("content", {})[EVENT_STREAM] = {"schema": _on_the_wire(event, components)}
        responses[str(status)] = response
    for status in sorted(statuses):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    op["responses"] = responses
    if declared.all_refusals:
        op["x-refusals"] = [{"status": r.status, "code": r.code, "rule": r.rule} for r in declared.all_refusals]
    if declared.public:
        op["security"] = []
    return op


def _declared_routes(app: Flask) -> list[tuple[str, str, list[str], Operation]]:
    """(method, documented path, path values, operation) for every API route."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/v1", "/hooks")):
            continue
        declared = operation_of(app.view_functions[rule.endpoint])
        if declared is None:
            raise LookupError(f"{rule.rule} ({rule.endpoint}) has no @operation declaration")
        values = _path_values(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method.lower(), _documented_path(rule.rule), values, declared))
    return found


def _error_responses() -> dict:
    """One response per error status: the envelope, with ``error.code`` narrowed."""
    responses = {}
    for status, (name, description, codes) in ERRORS.items():
        error: dict[str, Any] = {"properties": {"code": {"enum": codes}}}
        if status in (429, 503):
            error["required"] = ["retry_after"]
        schema = {"allOf": [{"$ref": "#/components/schemas/Error"}], "properties": {"error": error}}
        response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
        if status in ERROR_HEADERS:
            response["headers"] = ERROR_HEADERS[status]
        responses[name] = response
    return responses


def build_document(app: Flask) -> dict:
    routes = _declared_routes(app)
    kinds: list[tuple[Any, str]] = [(Error, "serialization"), (PageQuery, "validation")]
    for _, _, _, declared in routes:
        if declared.body is not None:
            kinds.append((declared.body, "validation"))
        if declared.query is not None:
            kinds.append((declared.query, "validation"))
        kinds += [(answer.schema, "serialization") for answer in declared.answers.values() if answer.schema]
        kinds += [(answer.events, "serialization") for answer in declared.answers.values() if answer.events]
    schemas, components = json_schemas(list(dict.fromkeys(kinds)))
    paths: dict[str, dict] = {}
    for method, path, values, declared in routes:
        paths.setdefault(path, {})[method] = _operation(declared, values, schemas, components)
    page = components["PageQuery"]["properties"]
    query_models = {declared.query.__name__ for *_, declared in routes if declared.query is not None}
    for name in (*query_models, "PageQuery"):
        components.pop(name, None)  # a query string is documented as its parameters, not as an object
    config = app.config
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AI workflows",
            "version": "1",
            "description": "Build workflows of AI model calls, run them and follow their executions. Every error "
            'is JSON: {"error": {"code", "message", "details": [{"path", "code", "message"}]}}. '
            "The guide: docs/api.md.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in TAGS],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key: `flask --app wsgi create-api-key EMAIL` or the settings "
                    "page. Session cookies are not accepted here.",
                },
            },
            "parameters": {
                **{name: _query_parameter(name, page[name]) for name in PageQuery.model_fields},
                **{_component_name(h): h for *_, declared in routes for h in declared.headers},
            },
            "schemas": {
                **components,
                **definition_schemas(definition_size(config)),
                "ScheduleInterval": {
                    "type": "integer",
                    "minimum": config["SCHEDULE_MIN_INTERVAL"],
                    "description": "Seconds; at least the server's SCHEDULE_MIN_INTERVAL.",
                },
            },
            "responses": _error_responses(),
        },
    }


@bp.get("/openapi.json")
@operation(
    "getOpenapi",
    "This document",
    tag="meta",
    public=True,
    answers={200: Answer(OpenApiDocument, "The OpenAPI 3.1 document.")},
)
def openapi():
    app = current_app._get_current_object()
    document = app.extensions.get("openapi")
    if document is None:
        document = app.extensions["openapi"] = build_document(app)
    return document
