"""The REST API under /api/v1: bearer-key authentication, one module per resource."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from ..auth.accounts import user_for_api_key
from ..errors import Unauthorized
from ..extensions import limiter
from ..ratelimits import api_caller

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PUBLIC_ENDPOINTS = {"api.openapi"}
# Declared once, at import: every app made from this blueprint shares the one limit.
limiter.limit(
    lambda: current_app.config["RATELIMIT_API"], key_func=api_caller, error_message="Too many API requests for this key"
)(bp)


@bp.before_request
def authenticate() -> None:
    """API keys only: a browser session cookie alone is not enough here."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    user = user_for_api_key(key.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        raise Unauthorized("Send a valid API key as 'Authorization: Bearer <key>'")
    g.user = user


from . import audit, executions, openapi, templates, usage, workflows  # noqa: E402,F401
