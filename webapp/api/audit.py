"""/api/v1/audit: the caller's own audit events, newest first."""

from __future__ import annotations

from flask import g

from ..schemas.base import PageQuery
from ..schemas.catalogue import AuditList
from ..services.audit import events_for
from . import bp
from .contract import operation
from .params import paginated
from .serializers import audit_event


@bp.get("/audit")
@operation(
    "listAuditEvents",
    "The caller's audit events",
    tag="audit",
    query=PageQuery,
    answers={200: (AuditList, "Newest first.")},
)
def list_audit_events(query: PageQuery):
    events, total = events_for(g.user, limit=query.limit, offset=query.offset)
    return paginated("events", [audit_event(e) for e in events], total, query.offset)
