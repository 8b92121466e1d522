"""GET /api/v1/openapi.json: the OpenAPI 3.1 document of the API as built.

Each operation is one ``operation(...)`` call naming its parameters, body and every
status it can answer; the shapes live in ``openapi_schemas.py``. The tests walk the
app's URL map against this document and validate real answers against it, so a
route added without its entry here fails them.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from ..engine.status import RunStatus
from ..services.definitions import definition_size
from . import bp
from .openapi_schemas import ref, schemas
from .params import MAX_OFFSET

JSON = "application/json"
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
        "The execution is in the wrong state for this, or an Idempotency-Key is reused for another workflow.",
        ["conflict"],
    ),
    413: ("PayloadTooLarge", "The request body is larger than the limit.", ["payload_too_large"]),
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
LOCATION = {"description": "The execution's status_url.", "schema": {"type": "string", "format": "uri"}}


# -- helpers ---------------------------------------------------------------------------


def query(name: str, schema: dict, description: str) -> dict:
    """A query parameter; sent empty (``?limit=``) it counts as left out."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "allowEmptyValue": True,
        "schema": schema,
        "description": description,
    }


def path_id(what: str, prefix: str) -> dict:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
        "description": f"The {what}'s id ({prefix}_…).",
    }


def param(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def json_response(description: str, schema: dict, headers: dict | None = None) -> dict:
    response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def json_body(schema: dict, *, required: bool = True, example: Any = None) -> dict:
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"required": required, "content": {JSON: content}}


def operation(
    operation_id: str,
    summary: str,
    tag: str,
    responses: dict,
    *,
    errors: tuple[int, ...] = (),
    parameters: tuple = (),
    body: dict | None = None,
    public: bool = False,
    description: str | None = None,
) -> dict:
    """One operation; ``errors`` adds the error envelope for each status (plus the
    statuses every authenticated call or every body can answer)."""
    statuses = set(errors) | set(EVERY)
    if not public:
        statuses |= set(AUTHENTICATED)
    if body is not None:
        statuses |= set(WITH_BODY)
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = list(parameters)
    if body is not None:
        op["requestBody"] = body
    op["responses"] = {str(code): response for code, response in responses.items()}
    for status in sorted(statuses):
        op["responses"][str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    if public:
        op["security"] = []
    return op


def error_responses() -> dict:
    """One response per error status: the envelope, with ``error.code`` narrowed."""
    responses = {}
    for status, (name, description, codes) in ERRORS.items():
        error: dict[str, Any] = {"properties": {"code": {"enum": codes}}}
        if status in (429, 503):
            error["required"] = ["retry_after"]
        schema = {"allOf": [ref("Error")], "properties": {"error": error}}
        responses[name] = json_response(description, schema, ERROR_HEADERS.get(status))
    return responses


# -- the operations ------------------------------------------------------------------------


SPEC_DEFINITION = {
    "nodes": [
        {
            "id": "in",
            "type": "input",
            "config": {"fields": [{"name": "product", "type": "string", "required": True, "max_length": 2000}]},
        },
        {
            "id": "draft",
            "type": "ai_model",
            "config": {
                "model": "gpt-4o-mini",
                "system": "You write marketing copy.",
                "prompt": "Describe {{ in.product }}",
                "temperature": 0.7,
                "max_tokens": 400,
            },
        },
        {"id": "long", "type": "conditional", "config": {"condition": "draft.text | length > 200"}},
        {
            "id": "short",
            "type": "processing",
            "config": {"operation": "truncate", "input": "{{ draft.text }}", "length": 200},
        },
        {"id": "out", "type": "output", "config": {"fields": {"copy": "{{ short.value if short else draft.text }}"}}},
    ],
    "connections": [
        {"from": "in", "to": "draft"},
        {"from": "draft", "to": "long"},
        {"from": "long", "to": "short", "branch": "true"},
        {"from": "long", "to": "out", "branch": "false"},
        {"from": "short", "to": "out"},
    ],
}


def workflow_paths() -> dict:
    full = json_response("The full workflow.", ref("Workflow"))
    created = json_response("The new workflow, owned by the caller.", ref("Workflow"))
    wf_id = param("WorkflowId")
    example = {
        "name": "Product copy",
        "description": "Marketing copy for a product",
        "category": "marketing",
        **SPEC_DEFINITION,
    }
    update = json_body(ref("WorkflowUpdate"), example={"name": "Renamed"})
    return {
        "/api/v1/workflows": {
            "get": operation(
                "listWorkflows",
                "List workflows",
                "workflows",
                {
                    200: json_response(
                        "Own workflows (and with public=true others' public ones), newest updated_at first.",
                        ref("WorkflowList"),
                    )
                },
                parameters=(
                    param("limit"),
                    param("offset"),
                    query("category", {"type": "string"}, "Only workflows of this category."),
                    query("public", {"type": "boolean", "default": False}, "Also list other users' public workflows."),
                ),
            ),
            "post": operation(
                "createWorkflow",
                "Create a workflow",
                "workflows",
                {201: created},
                body=json_body(ref("WorkflowCreate"), example=example),
            ),
        },
        "/api/v1/workflows/{id}": {
            "get": operation(
                "getWorkflow", "Get a workflow", "workflows", {200: full}, errors=(404,), parameters=(wf_id,)
            ),
            "put": operation(
                "replaceWorkflow",
                "Change a workflow (same as PATCH)",
                "workflows",
                {200: full},
                errors=(403, 404),
                parameters=(wf_id,),
                body=update,
            ),
            "patch": operation(
                "updateWorkflow",
                "Change a workflow",
                "workflows",
                {200: full},
                errors=(403, 404),
                parameters=(wf_id,),
                body=update,
            ),
            "delete": operation(
                "deleteWorkflow",
                "Delete a workflow",
                "workflows",
                {204: {"description": "Deleted; its executions stay readable."}},
                errors=(403, 404),
                parameters=(wf_id,),
            ),
        },
        "/api/v1/workflows/{id}/rating": {
            "post": operation(
                "rateWorkflow",
                "Rate a workflow (re-rating replaces)",
                "workflows",
                {200: json_response("The workflow with its new mean rating.", ref("Workflow"))},
                errors=(404,),
                parameters=(wf_id,),
                body=json_body(ref("RatingRequest"), example={"rating": 5}),
            ),
        },
        "/api/v1/workflows/{id}/clone": {
            "post": operation(
                "cloneWorkflow",
                "Clone an own or public workflow",
                "workflows",
                {201: json_response("A private copy owned by the caller.", ref("Workflow"))},
                errors=(404,),
                parameters=(wf_id,),
                body=json_body(ref("CloneRequest"), required=False),
            ),
        },
        "/api/v1/workflows/{id}/export": {
            "get": operation(
                "exportWorkflow",
                "Export a workflow's definition",
                "workflows",
                {
                    200: json_response(
                        "A file-ready document; POST it to /api/v1/workflows/import.",
                        ref("ExportDocument"),
                        {
                            "Content-Disposition": {
                                "description": "attachment; filename=…",
                                "schema": {"type": "string"},
                            }
                        },
                    )
                },
                errors=(404,),
                parameters=(wf_id,),
            ),
        },
        "/api/v1/workflows/import": {
            "post": operation(
                "importWorkflow",
                "Import an exported workflow",
                "workflows",
                {201: json_response("A new private workflow.", ref("Workflow"))},
                body=json_body(
                    ref("ImportRequest"),
                    example={
                        "format": "ai-workflow",
                        "format_version": 1,
                        "workflow": {"name": "Imported", **SPEC_DEFINITION},
                    },
                ),
            ),
        },
        "/api/v1/workflows/from-template": {
            "post": operation(
                "createWorkflowFromTemplate",
                "Make a workflow from a template",
                "templates",
                {201: json_response("A new workflow, owned by the caller.", ref("Workflow"))},
                errors=(404,),
                body=json_body(ref("FromTemplateRequest")),
            ),
        },
    }


def execution_paths() -> dict:
    execution = json_response("The execution.", ref("Execution"))
    accepted = json_response(
        "Running in the background; follow status_url.", ref("ExecutionAccepted"), {"Location": LOCATION}
    )
    exec_id = param("ExecutionId")
    return {
        "/api/v1/workflows/{id}/execute": {
            "post": operation(
                "executeWorkflow",
                "Run a workflow",
                "executions",
                {200: json_response("Sync: the finished execution.", ref("Execution")), 202: accepted},
                errors=(404, 409),
                parameters=(param("WorkflowId"), param("IdempotencyKey")),
                body=json_body(
                    ref("ExecuteRequest"),
                    required=False,
                    example={"inputs": {"product": "a solar lamp"}, "async": False},
                ),
                description="Sync runs answer 200 with the finished execution, or 202 (as async does) when still "
                "running after SYNC_TIMEOUT. Inputs that fail the input node: 422, nothing runs. "
                "A repeated Idempotency-Key returns the first execution (409 if it ran another "
                "workflow). "
                "Over the monthly budget: 429 with code budget_exceeded.",
            ),
        },
        "/api/v1/workflows/{id}/executions": {
            "get": operation(
                "listWorkflowExecutions",
                "List a workflow's executions",
                "executions",
                {
                    200: json_response(
                        "The caller's executions of the workflow, newest first, without nodes.", ref("ExecutionList")
                    )
                },
                errors=(404,),
                parameters=(
                    param("WorkflowId"),
                    param("limit"),
                    param("offset"),
                    query("status", {"type": "string", "enum": list(RunStatus)}, "Only this status."),
                ),
            ),
        },
        "/api/v1/executions/{id}": {
            "get": operation(
                "getExecution",
                "Get an execution, node by node",
                "executions",
                {200: execution},
                errors=(404,),
                parameters=(exec_id,),
            ),
        },
        "/api/v1/executions/{id}/cancel": {
            "post": operation(
                "cancelExecution",
                "Cancel a queued or running execution",
                "executions",
                {202: json_response("The cancelled execution.", ref("Execution"))},
                errors=(404, 409),
                parameters=(exec_id,),
                description="A finished execution: 409.",
            ),
        },
        "/api/v1/executions/{id}/retry": {
            "post": operation(
                "retryExecution",
                "Retry a failed or cancelled execution",
                "executions",
                {
                    202: json_response(
                        "A new execution (retry_of names the original) that reuses the "
                        "outputs of the nodes that completed.",
                        ref("RetryAccepted"),
                        {"Location": LOCATION},
                    )
                },
                errors=(403, 404, 409),
                parameters=(exec_id,),
                description="A queued, running or completed execution: 409.",
            ),
        },
        "/api/v1/usage": {
            "get": operation(
                "getUsage",
                "Tokens and cost per day and per workflow",
                "usage",
                {200: json_response("The caller's usage over the last `days` days (UTC).", ref("UsageReport"))},
                parameters=(
                    query(
                        "days",
                        {"type": "integer", "minimum": 1, "maximum": 366, "default": 30},
                        "How many days back, today included.",
                    ),
                    query("workflow_id", {"type": "string"}, "Only this workflow."),
                ),
            ),
        },
    }


def other_paths() -> dict:
    return {
        "/api/v1/templates": {
            "get": operation(
                "listTemplates",
                "List templates",
                "templates",
                {200: json_response("Templates by category and name.", ref("TemplateList"))},
                parameters=(
                    query("category", {"type": "string"}, "Only this category."),
                    param("limit"),
                    param("offset"),
                ),
            ),
        },
        "/api/v1/templates/{id}": {
            "get": operation(
                "getTemplate",
                "Get a template with its definition",
                "templates",
                {200: json_response("The template.", ref("Template"))},
                errors=(404,),
                parameters=(path_id("template", "tpl"),),
            ),
        },
        "/api/v1/audit": {
            "get": operation(
                "listAuditEvents",
                "The caller's audit events",
                "audit",
                {200: json_response("Newest first.", ref("AuditList"))},
                parameters=(param("limit"), param("offset")),
            ),
        },
        "/api/v1/openapi.json": {
            "get": operation(
                "getOpenapi",
                "This document",
                "meta",
                {200: json_response("The OpenAPI 3.1 document.", {"type": "object"})},
                public=True,
            ),
        },
    }


def trigger_paths() -> dict:
    trigger = json_response("The trigger.", ref("Trigger"))
    trigger_id = path_id("trigger", "trg")
    return {
        "/api/v1/workflows/{id}/triggers": {
            "post": operation(
                "createTrigger",
                "Add a webhook or a schedule to a workflow",
                "triggers",
                {201: trigger},
                errors=(403, 404),
                parameters=(param("WorkflowId"),),
                body=json_body(
                    ref("TriggerRequest"),
                    example={"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris", "inputs": {}},
                ),
                description="Owner only. A schedule's inputs must satisfy the workflow's input node.",
            ),
            "get": operation(
                "listTriggers",
                "List a workflow's triggers",
                "triggers",
                {200: json_response("Its triggers, oldest first.", ref("TriggerList"))},
                errors=(403, 404),
                parameters=(param("WorkflowId"),),
            ),
        },
        "/api/v1/triggers/{id}": {
            "patch": operation(
                "updateTrigger",
                "Enable, disable or reschedule a trigger",
                "triggers",
                {200: trigger},
                errors=(404,),
                parameters=(trigger_id,),
                body=json_body(ref("TriggerUpdate")),
            ),
            "delete": operation(
                "deleteTrigger",
                "Delete a trigger",
                "triggers",
                {204: {"description": "Deleted: a webhook's URL answers 404 from now on."}},
                errors=(404,),
                parameters=(trigger_id,),
            ),
        },
        "/hooks/{token}": {
            "post": operation(
                "receiveWebhook",
                "Start a workflow from its webhook",
                "triggers",
                {
                    200: json_response("The finished execution's outputs.", ref("HookResult")),
                    202: json_response("Still running (or ?async=true).", ref("HookAccepted")),
                },
                errors=(400, 404, 413, 415, 422),
                parameters=(
                    {
                        "name": "token",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1},
                        "description": "The webhook's secret token, as in its url.",
                    },
                    query("async", {"type": "boolean", "default": False}, "Answer 202 at once."),
                ),
                body=json_body({"type": "object"}, required=False, example={"text": "hello"}),
                public=True,
                description="No API key: the token is the secret. The JSON object body is the inputs. Unknown or "
                "disabled token: 404.",
            ),
        },
    }


def provider_paths() -> dict:
    provider = json_response("The provider.", ref("Provider"))
    provider_id = path_id("provider", "prv")
    return {
        "/api/v1/providers": {
            "post": operation(
                "createProvider",
                "Add a model provider",
                "providers",
                {201: provider},
                body=json_body(
                    ref("ProviderRequest"),
                    example={"name": "ollama", "base_url": "https://llm.example.com/v1", "models": ["llama3.1"]},
                ),
                description="The key is stored encrypted and never shown again (api_key_last4 only).",
            ),
            "get": operation(
                "listProviders",
                "List your model providers and the server's own",
                "providers",
                {200: json_response("The server's ('default') and yours.", ref("ProviderList"))},
            ),
        },
        "/api/v1/providers/{id}": {
            "get": operation(
                "getProvider",
                "Get a model provider",
                "providers",
                {200: provider},
                errors=(404,),
                parameters=(provider_id,),
            ),
            "patch": operation(
                "updateProvider",
                "Change a model provider",
                "providers",
                {200: provider},
                errors=(404,),
                parameters=(provider_id,),
                body=json_body(ref("ProviderUpdate")),
            ),
            "delete": operation(
                "deleteProvider",
                "Delete a model provider",
                "providers",
                {204: {"description": "Deleted."}},
                errors=(404,),
                parameters=(provider_id,),
            ),
        },
        "/api/v1/providers/{id}/models": {
            "get": operation(
                "listProviderModels",
                "List the models a provider offers",
                "providers",
                {200: json_response("From the provider's own model list.", ref("ModelList"))},
                errors=(404, 422),
                parameters=(provider_id,),
                description="422 when its base_url is refused by the outbound rules (detail code "
                "blocked_destination) or does not answer (provider_unavailable).",
            ),
        },
    }


def build_document(config) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AI workflows",
            "version": "1",
            "description": "Build workflows of AI model calls, run them and follow their executions. Every error "
            'is JSON: {"error": {"code", "message", "details": [{"path", "code", '
            '"message"}]}}.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": name}
            for name in ("workflows", "executions", "triggers", "providers", "templates", "usage", "audit", "meta")
        ],
        "paths": {**workflow_paths(), **execution_paths(), **trigger_paths(), **provider_paths(), **other_paths()},
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
                "limit": query(
                    "limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "Page size, 1–100."
                ),
                "offset": query(
                    "offset",
                    {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
                    "How many items to skip.",
                ),
                "WorkflowId": path_id("workflow", "wf"),
                "ExecutionId": path_id("execution", "exec"),
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "A repeated key (same user, within a day) answers with the first execution "
                    "instead of starting another.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"},
                },
            },
            "schemas": schemas(definition_size(config)),
            "responses": error_responses(),
        },
    }


@bp.get("/openapi.json")
def openapi():
    app = current_app._get_current_object()
    document = app.extensions.get("openapi")
    if document is None:
        document = app.extensions["openapi"] = build_document(app.config)
    return document
