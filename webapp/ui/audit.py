"""The audit page: my own audit events, newest first."""

from __future__ import annotations

from flask_login import current_user

from ..services import summaries
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
    "workflow.published": "Workflow made public",
    "workflow.version_published": "Version published",
    "workflow.version_restored": "Version restored into the draft",
    "workflow.unpublished": "Workflow made private",
    "execution.started": "Execution started",
    "execution.cancelled": "Execution cancelled",
    "execution.retried": "Execution retried",
    "trigger.created": "Trigger added",
    "trigger.updated": "Trigger changed",
    "trigger.deleted": "Trigger deleted",
    "trigger.skipped": "Scheduled run skipped",
    "provider.created": "Model provider added",
    "provider.updated": "Model provider changed",
    "provider.deleted": "Model provider deleted",
}


@bp.get("/audit")
def audit():
    user = current_user._get_current_object()
    pagination = page_arg(PER_PAGE)
    events, total = events_for(user, limit=PER_PAGE, offset=pagination.offset)
    workflows = {e.target_id for e in events if e.target_type == "workflow" and e.target_id}
    return respond(
        "audit/index.html",
        "partials/_audit_events.html",
        events=events,
        pagination=paginate(pagination, total),
        labels=ACTION_LABELS,
        names=summaries.workflow_names(user, workflows),  # id → (name, still there): no links to 404s
    )
