"""Rate limits, all through Flask-Limiter and its ``limits`` storage (Redis when
``REDIS_URL`` is set, so a limit holds across gunicorn processes and machines).

* API calls per key: a limit on the whole ``/api/v1`` blueprint.
* Executions per user: counted where executions start (API and UI alike).
* Failed sign-ins: per account and per address; only failures count.

``RATELIMIT_ENABLED=false`` turns every one of them off (Flask-Limiter reads it).
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, current_app, request
from limits import parse

from .errors import RateLimited
from .extensions import limiter

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)  # a limiter outage must not become a 500
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    limiter.init_app(app)


def api_caller() -> str:
    """The key's public lookup prefix (never the secret), or the address without one."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return "key:" + key.strip()[:12]
    return "ip:" + (request.remote_addr or "unknown")


def seconds_until_reset(limit: str, *identifiers: str) -> int:
    reset_at, _ = limiter.limiter.get_window_stats(parse(limit), *identifiers)
    return max(1, math.ceil(reset_at - time.time()))


def retry_after_for_current_request() -> int:
    current = limiter.current_limit
    return max(1, math.ceil(current.reset_at - time.time())) if current else 60


def _enabled() -> bool:
    return limiter.enabled and current_app.config["RATELIMIT_ENABLED"]


def _allowed(check: str, limit: str, scope: str, identity: str) -> bool:
    """``hit`` (count one) or ``test`` (only look). An unreachable storage allows: a
    limiter outage must not lock everyone out."""
    try:
        return getattr(limiter.limiter, check)(parse(limit), scope, identity)
    except Exception:
        log.exception("rate limit storage unreachable; letting the request through")
        return True


def count(limit: str, scope: str, identity: str, message: str) -> None:
    """Count one event against ``limit``; ``RateLimited`` (429) once it is used up."""
    if _enabled() and not _allowed("hit", limit, scope, identity):
        raise RateLimited(message, seconds_until_reset(limit, scope, identity))


def count_execution(user_id: str) -> None:
    count(current_app.config["RATELIMIT_EXECUTIONS"], "executions", user_id, "Too many executions started; slow down")


def _sign_in_keys(email: str, address: str | None) -> tuple[tuple[str, str], ...]:
    return ("login-account", email.strip().lower()), ("login-address", address or "unknown")


def check_sign_in(email: str, address: str | None) -> None:
    """Refuse before checking the password once an account or address has too many failures."""
    if not _enabled():
        return
    limit = current_app.config["RATELIMIT_LOGIN"]
    for scope, identity in _sign_in_keys(email, address):
        if not _allowed("test", limit, scope, identity):
            raise RateLimited("Too many failed sign-ins; try again later", seconds_until_reset(limit, scope, identity))


def record_failed_sign_in(email: str, address: str | None) -> None:
    """Only failures count, so a person who signs in often is never locked out."""
    if _enabled():
        for scope, identity in _sign_in_keys(email, address):
            _allowed("hit", current_app.config["RATELIMIT_LOGIN"], scope, identity)
