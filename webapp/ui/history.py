"""History: every execution of mine, filtered by workflow, status and dates."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import request
from flask_login import current_user

from ..engine.status import RunStatus
from ..services import executions as service
from ..services import summaries
from . import bp
from .rendering import page_arg, paginate, respond

PER_PAGE = 20


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@bp.get("/history")
def history():
    user = current_user._get_current_object()
    status = request.args.get("status", "")
    status = status if status in tuple(RunStatus) else ""
    workflow_id = request.args.get("workflow", "").strip()[:64]
    since, until = _date_arg("since"), _date_arg("until")
    pagination = page_arg(PER_PAGE)
    items, total = service.list_executions(
        user,
        workflow_id=workflow_id or None,
        status=status or None,
        since=datetime.combine(since, time.min) if since else None,
        until=datetime.combine(until + timedelta(days=1), time.min) if until else None,  # the whole last day
        limit=PER_PAGE,
        offset=pagination.offset,
    )
    return respond(
        "history/index.html",
        "partials/_history_results.html",
        items=items,
        pagination=paginate(pagination, total),
        statuses=tuple(RunStatus),
        selected_status=status,
        workflow_id=workflow_id,
        since=since.isoformat() if since else "",
        until=until.isoformat() if until else "",
        choices=summaries.history_choices(user),
        names=summaries.workflow_names(user, {e.workflow_id for e in items}),
        retries=service.retries_of([e.id for e in items if e.status in (RunStatus.FAILED, RunStatus.CANCELLED)]),
    )
