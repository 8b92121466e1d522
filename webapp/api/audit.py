"""/api/v1/audit: the caller's own audit events, newest first."""

from __future__ import annotations

from flask import g

from ..services.audit import events_for
from . import bp
from .params import page, paginated
from .serializers import audit_event


@bp.get("/audit")
def list_audit_events():
    limit, offset = page()
    events, total = events_for(g.user, limit=limit, offset=offset)
    return paginated("events", [audit_event(e) for e in events], total, offset)
