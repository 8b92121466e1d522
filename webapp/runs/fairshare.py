"""Fair share: one user runs at most ``MAX_RUNNING_PER_USER`` executions at once,
counted in the database, so the bound holds across every web process and worker.

A claim counts the owner's running executions in the same statement that takes the
run. A run that finds its owner full is *held back*: still ``queued``, marked
``waiting_since``, and no worker's business until one of the owner's runs ends and,
in the transaction that records the end, wakes the oldest waiting one. Other users'
runs are never behind it. Claims and wakes of one owner go one after the other (on
PostgreSQL they lock the owner's row; SQLite has one writer at a time already), and
a held-back run tries its claim once more after it is marked: so a slot freed while
it was being held back is never missed. The reaper still wakes any held-back run
whose owner has room (a process that died between its end and its commit).

Child runs claim here too, but are never held back: their parent's thread waits for a
place and claims again, while the parent lends its own (``places.py``); a run marked
``lending`` holds no place.
"""

from __future__ import annotations

import sys

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.sql import ColumnElement

from ..engine.status import RunStatus
from ..extensions import db
from ..models import User, utcnow
from .records import executions

_users = User.__table__
_running = executions.alias("running")


def _running_of(user_id) -> ColumnElement:
    """The places the owner's runs hold: running, less those lent to children (``places.py``)."""
    return (
        select(func.count())
        .select_from(_running)
        .where(_running.c.user_id == user_id, _running.c.status == RunStatus.RUNNING, _running.c.lending.is_(False))
        .scalar_subquery()
    )


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def lock_owner(owner) -> None:
    """Serialise the claims and wakes of one owner (a user id, or a SQL expression for
    one). PostgreSQL: a lock on the owner's row, held to the commit."""
    if _postgresql():
        db.session.execute(select(_users.c.id).where(_users.c.id == owner).with_for_update())


def owner_of(execution_id: str) -> ColumnElement:
    return select(executions.c.user_id).where(executions.c.id == execution_id).scalar_subquery()


def room_for_owner(cap: int) -> list[ColumnElement]:
    """The claim's extra condition: its owner runs fewer than ``cap`` (0: no bound)."""
    return [_running_of(executions.c.user_id) < cap] if cap > 0 else []


def has_room(user_id: str, cap: int) -> bool:
    """Whether the owner holds fewer than ``cap`` places now (a read only: a waiter's look)."""
    room = db.session.scalar(select(_running_of(user_id) < cap))
    db.session.commit()
    return bool(room)


def lend(execution_id: str) -> None:
    """The run's place to its children: it no longer counts toward its owner's bound."""
    db.session.execute(
        update(executions)
        .where(executions.c.id == execution_id, executions.c.status == RunStatus.RUNNING)
        .values(lending=True)
    )
    db.session.commit()


def take_back(execution_id: str, user_id: str, cap: int) -> bool:
    """The run's lent place back, if its owner has room (a compare-and-set, as a claim);
    also True when the run is no longer running (nothing to take back)."""
    lock_owner(user_id)
    lent_and_room = and_(executions.c.lending.is_(True), *room_for_owner(cap))
    taken = db.session.execute(
        update(executions)
        .where(executions.c.id == execution_id, or_(executions.c.status != RunStatus.RUNNING, lent_and_room))
        .values(lending=False)
    ).rowcount
    db.session.commit()
    return bool(taken)


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
    """Take the owner's oldest held-back run in ``lane`` out of waiting, and commit;
    its id, to be dispatched again."""
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
    lock_owner(user_id)
    woken = db.session.execute(
        update(executions)
        .where(executions.c.id == oldest.scalar_subquery(), executions.c.waiting_since.is_not(None))
        .values(waiting_since=None)
        .returning(executions.c.id)
    ).scalar()
    db.session.commit()
    return woken


def owners_with_room(lane: str, cap: int) -> dict[str, int]:
    """Owners of held-back runs in ``lane`` and how many more each may run now (with no
    bound, all of them: runs held back before the bound was lifted)."""
    waiting = db.session.execute(
        select(executions.c.user_id, _running_of(executions.c.user_id))
        .where(executions.c.queue == lane, executions.c.status == RunStatus.QUEUED)
        .where(executions.c.waiting_since.is_not(None))
        .distinct()
    ).all()
    db.session.commit()
    if cap <= 0:
        return {user_id: sys.maxsize for user_id, _ in waiting}
    return {user_id: cap - running for user_id, running in waiting if running < cap}
