"""The append-only audit log: one function writes, the API and a page read."""

from __future__ import annotations

from flask import has_request_context, request
from sqlalchemy import func, insert, select

from ..extensions import db
from ..models import AuditEvent, User

_INSERT = insert(AuditEvent.__table__)  # built once: every start writes one


def record(
    action: str,
    user: User | None,
    target_type: str | None = None,
    target_id: str | None = None,
    *,
    actor: str | None = None,
    details: dict | None = None,
) -> None:
    """Writes the event in the current transaction: it commits with the change it
    describes, or not at all."""
    db.session.execute(
        _INSERT,
        {
            "user_id": user.id if user is not None else None,
            "actor": actor or (user.id if user is not None else "anonymous"),
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "ip": request.remote_addr if has_request_context() else None,
            "details": details,
        },
    )


def events_for(user: User, *, limit: int, offset: int) -> tuple[list[AuditEvent], int]:
    query = select(AuditEvent).where(AuditEvent.user_id == user.id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit).offset(offset))
    return list(rows), total
