"""The REST API under /api/v1: bearer-key authentication, one module per resource."""

from __future__ import annotations

from flask import Blueprint, g, request
from werkzeug.routing import BaseConverter

from .. import ratelimits
from ..auth.accounts import api_key_holder
from ..errors import Unauthorized

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PUBLIC_ENDPOINTS = {"api.openapi"}


class WorkflowIdConverter(BaseConverter):
    """A workflow id is any path segment but the names of the fixed paths beside it, so
    ``/workflows/import`` is only that path (OPTIONS and 405 name its methods alone)."""

    regex = r"(?!(?:import|from-template)$)[^/]+"


bp.record_once(lambda state: state.app.url_map.converters.setdefault("wf", WorkflowIdConverter))


@bp.before_request
def authenticate() -> None:
    """API keys only: a browser session cookie alone is not enough here. Calls count
    against the verified key; failures against the address they come from."""
    address = request.remote_addr or "unknown"
    if request.endpoint in PUBLIC_ENDPOINTS:
        ratelimits.count_api_call(f"address:{address}")
        return
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    holder = api_key_holder(key.strip()) if scheme.lower() == "bearer" else None
    if holder is None:
        ratelimits.count_failed_key(address)  # 429 instead of 401 once the address is past its limit
        raise Unauthorized("Send a valid API key as 'Authorization: Bearer <key>'")
    g.user, key_id = holder
    ratelimits.count_api_call(f"key:{key_id}")


from . import audit, drafts, evaluations, executions, openapi, providers, templates, triggers, usage, workflows  # noqa: E402,F401
