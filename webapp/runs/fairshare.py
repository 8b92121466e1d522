"""Fair share: one user runs at most ``MAX_RUNNING_PER_USER`` executions at once,
counted in the database, so the bound holds across every web process and worker.

A claim counts the owner's running executions in the same statement that takes the
run (on PostgreSQL after locking the owner's row, so two claims for one user count
one after the other; SQLite has one writer at a time already). A run that finds its
owner full is *held back*: still ``queued``, marked ``waiting_since``, and no worker's
business until one of the owner's runs ends and wakes the oldest waiting one. Other
users' runs are never behind it. The reaper wakes any held-back run whose owner has
room, in case a wake was missed (a process that died between).
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.sql import ColumnElement

from ..engine.status import RunStatus
from ..extensions import db
from ..models import User, utcnow
from .records import executions

_users = User.__table__
_running = executions.alias("running")


def _running_of(user_id) -> ColumnElement:
    return (
        select(func.count())
        .select_from(_running)
        .where(_running.c.user_id == user_id, _running.c.status == RunStatus.RUNNING)
        .scalar_subquery()
    )


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def lock_owner(execution_id: str, cap: int) -> None:
    """Serialise the claims of one owner (PostgreSQL: a row lock, held to the commit)."""
    if cap > 0 and _postgresql():
        owner = select(executions.c.user_id).where(executions.c.id == execution_id).scalar_subquery()
        db.session.execute(select(_users.c.id).where(_users.c.id == owner).with_for_update())


def room_for_owner(cap: int) -> list[ColumnElement]:
    """The claim's extra condition: its owner runs fewer than ``cap`` (0: no bound)."""
    return [_running_of(executions.c.user_id) < cap] if cap > 0 else []


def has_room(user_id: str, cap: int) -> bool:
    if cap <= 0:
        return True
    running = db.session.scalar(select(_running_of(user_id)))
    db.session.commit()
    return running < cap


def hold_back(execution_id: str) -> str | None:
    """Mark a still-queued run as waiting for its owner; its owner, or None if it is
    no longer queued (taken or settled by someone else)."""
    owner = db.session.execute(
        update(executions)
        .where(executions.c.id == execution_id, executions.c.status == RunStatus.QUEUED)
        .values(waiting_since=func.coalesce(executions.c.waiting_since, utcnow()))
        .returning(executions.c.user_id)
    ).scalar()
    db.session.commit()
    return owner


def wake_next(user_id: str, lane: str) -> str | None:
    """Take the owner's oldest held-back run out of waiting; its id, to be dispatched."""
    oldest = (
        select(executions.c.id)
        .where(
            executions.c.user_id == user_id,
            executions.c.status == RunStatus.QUEUED,
            executions.c.waiting_since.is_not(None),
            executions.c.queue == lane,
        )
        .order_by(executions.c.created_at)
        .limit(1)
    )
    if _postgresql():
        oldest = oldest.with_for_update(skip_locked=True)  # two wakers take two runs, not one twice
    woken = db.session.execute(
        update(executions)
        .where(executions.c.id == oldest.scalar_subquery(), executions.c.waiting_since.is_not(None))
        .values(waiting_since=None)
        .returning(executions.c.id)
    ).scalar()
    db.session.commit()
    return woken


def owners_with_room(lane: str, cap: int) -> dict[str, int]:
    """Owners of held-back runs in ``lane`` and how many more each may run now."""
    waiting = db.session.execute(
        select(executions.c.user_id, _running_of(executions.c.user_id))
        .where(executions.c.queue == lane, executions.c.status == RunStatus.QUEUED)
        .where(executions.c.waiting_since.is_not(None))
        .distinct()
    ).all()
    db.session.commit()
    return {user_id: (cap - running if cap > 0 else 1) for user_id, running in waiting if cap <= 0 or running < cap}
