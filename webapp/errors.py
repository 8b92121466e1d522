"""Failures the services raise, each with the HTTP status it maps to.

Services speak in these; ``api/errors.py`` turns them into the JSON envelope and
the UI into a page or an inline message. One class per meaning, one place each.
"""

from __future__ import annotations

from .engine.errors import Problem


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: list[Problem] | None = None, **extra) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.extra = extra


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class NothingToPublish(Conflict):
    code = "nothing_to_publish"


class TestsFailed(Conflict):
    """The workflow requires passing tests, and its draft has no passing test run."""

    __test__ = False
    code = "tests_failed"


class NoTests(Conflict):
    code = "no_tests"


class TooLarge(ServiceError):
    """A body within the request size limit whose content is past a bound of its own."""

    status, code = 413, "payload_too_large"


class ValidationFailed(ServiceError):
    status, code = 422, "validation_error"


class RateLimited(ServiceError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int, code: str = "rate_limited") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code


class Unavailable(ServiceError):
    """Busy for a moment (every stream slot taken): try again after ``retry_after`` seconds."""

    status, code = 503, "service_unavailable"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
