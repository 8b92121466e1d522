"""Creating users and their API keys; checking a bearer key."""

from __future__ import annotations

import hmac
import re
from datetime import timedelta

from flask import has_request_context, request
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from .. import ratelimits
from ..engine.errors import Problem
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..models import ApiKey, User, utcnow
from ..models.user import API_KEY_PREFIX, LOOKUP_LENGTH
from ..services import audit

LAST_USED_PRECISION = timedelta(minutes=1)  # one write a minute per key, not one per request
MIN_PASSWORD_LENGTH = 8


# An email here is a sign-in name, never mailed: accept internal domains (corp.local).
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise ValidationFailed(
            "Email is invalid", [Problem("email", "invalid_value", "enter an address like name@example.com")]
        )
    return email


def create_user(email: str, password: str) -> User:
    email = normalise_email(email)
    _check_new_password(password, "Password is too short")
    taken = Conflict(f"A user with email {email} already exists")
    if db.session.scalar(select(User).where(User.email == email)) is not None:
        raise taken
    user = User(email=email)
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # made by a sign-up running alongside, since the look above
        db.session.rollback()
        raise taken from None
    return user


def sign_up(email: str, password: str) -> User:
    """An account made from the sign-up form: each one tried counts against its address."""
    ratelimits.count_sign_up(request.remote_addr if has_request_context() else None)
    return create_user(email, password)


def _check_new_password(password: str, message: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        problem = Problem("password", "invalid_value", f"use at least {MIN_PASSWORD_LENGTH} characters")
        raise ValidationFailed(message, [problem])


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


_DUMMY_HASH = generate_password_hash("timing equaliser")


def sign_in(email: str, password: str) -> User | None:
    """The user if the password is right, else None. Both outcomes are audited (a
    failure lands in the account owner's log, so they can see attempts)."""
    address = request.remote_addr if has_request_context() else None
    attempt = ratelimits.take_sign_in_attempt(email, address)
    user = user_by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)  # same time whether or not the account exists
        ok = False
    else:
        ok = user.check_password(password)
    if ok:
        attempt.give_back()  # only failures count
    action = "sign_in.success" if ok else "sign_in.failure"
    audit.record(action, user, "user", user.id if user else None, actor=email[:254])
    db.session.commit()
    return user if ok else None


def change_password(user: User, current: str, new: str) -> None:
    """The new password, if ``current`` is right (``ValidationFailed`` names the field)."""
    if not user.check_password(current):
        raise ValidationFailed("The password was not changed", [Problem("current", "invalid_value", "not right")])
    _check_new_password(new, "The password was not changed")
    user.set_password(new)
    audit.record("user.password_changed", user, "user", user.id)
    db.session.commit()


def issue_api_key(user: User, name: str = "") -> str:
    """Returns the raw key: the only time it exists outside the caller's hands."""
    key, raw = ApiKey.issue(user, name.strip()[:100])
    db.session.add(key)
    db.session.flush()
    audit.record("api_key.created", user, "api_key", key.id)
    db.session.commit()
    return raw


def revoke_api_key(user: User, key_id: str) -> None:
    key = db.session.get(ApiKey, key_id)
    if key is None or key.user_id != user.id:
        raise NotFound(f"No API key '{key_id}'")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record("api_key.revoked", user, "api_key", key.id)
        db.session.commit()


def active_keys(user: User) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    return list(db.session.scalars(query.order_by(ApiKey.created_at.desc())))


# One query for a key and its owner, built once: every API request asks it.
_KEY_HOLDERS = (
    select(User, ApiKey.id, ApiKey.key_hash, ApiKey.last_used_at)
    .join(ApiKey, ApiKey.user_id == User.id)
    .where(ApiKey.lookup == bindparam("lookup"), ApiKey.revoked_at.is_(None))
)


def api_key_holder(raw_key: str) -> tuple[User, str] | None:
    """The key's owner and the key's id, or None. Candidates are found by the
    non-secret prefix and compared by hash in constant time."""
    if not raw_key.startswith(API_KEY_PREFIX) or len(raw_key) < LOOKUP_LENGTH + 16:
        return None
    candidates = db.session.execute(_KEY_HOLDERS, {"lookup": raw_key[:LOOKUP_LENGTH]})
    digest = ApiKey.digest(raw_key)
    for user, key_id, key_hash, last_used_at in candidates:
        if hmac.compare_digest(key_hash, digest):
            now = utcnow()
            if last_used_at is None or now - last_used_at > LAST_USED_PRECISION:
                db.session.execute(
                    update(ApiKey.__table__).where(ApiKey.__table__.c.id == key_id).values(last_used_at=now)
                )
                db.session.commit()
            return user, key_id
    return None
