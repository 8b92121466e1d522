"""The one error envelope: ``{"error": {"code", "message", "details"}}``.

Every failure under ``/api/v1`` — a service's ``ServiceError``, Werkzeug's HTTP
errors (404, 405, 413…) and anything unexpected — leaves through here as JSON.
Pages get their HTML error pages from the UI instead.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, request
from werkzeug.exceptions import HTTPException

from ..errors import RateLimited, ServiceError, Unavailable
from ..outages import RETRY_AFTER_SECONDS, database_unavailable
from ..path_secrets import HOOKS_PREFIX, masked

log = logging.getLogger(__name__)

# Werkzeug's HTTP errors, as envelope codes.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


def error_response(status: int, code: str, message: str, details=None, headers=None, **extra) -> Response:
    body = {"error": {"code": code, "message": message, "details": [d.as_dict() for d in details or []], **extra}}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def is_api_request() -> bool:
    return request.path.startswith(("/api/", HOOKS_PREFIX + "/"))  # webhooks are machine callers too


def service_error_response(exc: ServiceError) -> Response:
    if isinstance(exc, RateLimited):
        return rate_limited_response(exc.code, exc.message, exc.retry_after)
    if isinstance(exc, Unavailable):
        wait = exc.retry_after
        return error_response(503, exc.code, exc.message, headers={"Retry-After": str(wait)}, retry_after=wait)
    return error_response(exc.status, exc.code, exc.message, exc.details)


def rate_limited_response(code: str, message: str, retry_after: int) -> Response:
    """429 with the wait both in ``Retry-After`` and in the envelope."""
    return error_response(429, code, message, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


def http_error_response(exc: HTTPException) -> Response:
    status = exc.code or 500
    messages = {
        404: f"No such path: {request.method} {request.path}",
        405: f"{request.method} is not allowed on {request.path}",
        413: "The request body is larger than the limit",
    }
    headers = {}
    allowed = getattr(exc, "valid_methods", None)
    if status == 405 and allowed:
        headers["Allow"] = ", ".join(allowed)
    return error_response(
        status, HTTP_CODES.get(status, "error"), messages.get(status, exc.description or exc.name), headers=headers
    )


def unavailable_response(render_page_error) -> Response:
    """503 while the database is away, with the wait in ``Retry-After`` (and the envelope)."""
    message = "The database is unavailable for a moment; try again shortly"
    wait = RETRY_AFTER_SECONDS
    if is_api_request():
        response = error_response(503, HTTP_CODES[503], message, retry_after=wait)
    else:
        response = make_response(render_page_error(503, message + "."))
    response.headers["Retry-After"] = str(wait)
    return response


def register(app: Flask, render_page_error) -> None:
    """Install handlers that answer JSON under /api/ and delegate pages to the UI."""

    @app.errorhandler(ServiceError)
    def on_service_error(exc: ServiceError):
        return service_error_response(exc) if is_api_request() else render_page_error(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException):
        if is_api_request():
            return http_error_response(exc)
        return render_page_error(exc.code or 500, exc.description)

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception):
        if database_unavailable(exc):  # a restart or failover: the client may simply try again
            log.warning("database unavailable on %s %s: %s", request.method, masked(request.path), exc)
            return unavailable_response(render_page_error)
        log.exception("unhandled error on %s %s", request.method, masked(request.path))
        if is_api_request():
            return error_response(500, "internal_error", "Something went wrong on our side; it has been logged")
        return render_page_error(500, "Something went wrong on our side; it has been logged.")
