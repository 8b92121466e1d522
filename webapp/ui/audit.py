"""The audit page: my own audit events, newest first."""

from __future__ import annotations

from flask_login import current_user

from ..services.audit import events_for
from . import bp
from .rendering import page_arg, paginate, respond

PER_PAGE = 30
ACTION_LABELS = {
    "sign_in.success": "Signed in",
    "sign_in.failure": "Failed sign-in",
    "api_key.created": "API key created",
    "api_key.revoked": "API key revoked",
    "workflow.created": "Workflow created",
    "workflow.changed": "Workflow changed",
    "workflow.deleted": "Workflow deleted",
    "workflow.published": "Workflow published",
    "workflow.unpublished": "Workflow made private",
    "execution.started": "Execution started",
    "execution.cancelled": "Execution cancelled",
    "execution.retried": "Execution retried",
}


@bp.get("/audit")
def audit():
    pagination = page_arg(PER_PAGE)
    events, total = events_for(current_user._get_current_object(), limit=PER_PAGE, offset=pagination.offset)
    return respond(
        "audit/index.html",
        "partials/_audit_events.html",
        events=events,
        pagination=paginate(pagination, total),
        labels=ACTION_LABELS,
    )
