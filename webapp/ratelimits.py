"""Rate limits, counted through Flask-Limiter's ``limits`` storage: Redis when
``REDIS_URL`` is set, else the database (``limit_storage.py``). Either way every
limit holds across all gunicorn processes and machines, and every count is one
atomic increment.

* API calls: per verified key (counted after authentication, so made-up keys share
  nothing with real ones); public paths per address.
* Failed API authentication: per address (``429`` instead of ``401`` past the limit).
* Executions started: per user (API and UI alike).
* Sign-ups: per address, each one tried (a taken email counts too: it says the
  account exists).
* Sign-ins: each attempt is counted *before* its password is checked, so of many
  parallel guesses only as many as the limit allows are checked; a success gives
  its count back (only failures count). Per account and address together (a
  stranger cannot lock the owner out from elsewhere), with higher ceilings per
  account (from any address) and per address (any account).

``RATELIMIT_ENABLED=false`` turns every one of them off.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from flask import Flask, current_app
from limits import parse

from . import limit_storage  # noqa: F401 - registers the appdb:// storage
from .errors import RateLimited
from .extensions import limiter

log = logging.getLogger(__name__)
Limit = tuple[str, str, str]  # (limit, scope, identity)


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "appdb://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    limiter.init_app(app)


def seconds_until_reset(limit: str, scope: str, identity: str) -> int:
    reset_at, _ = limiter.limiter.get_window_stats(parse(limit), _scoped(scope), identity)
    return max(1, math.ceil(reset_at - time.time()))


def _scoped(scope: str) -> str:
    """``RATELIMIT_KEY_PREFIX`` (Flask-Limiter's setting) keeps deployments sharing a
    Redis apart."""
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX")
    return f"{prefix}/{scope}" if prefix else scope


def _enabled() -> bool:
    return limiter.enabled and current_app.config["RATELIMIT_ENABLED"]


def _hit(limit: str, scope: str, identity: str, cost: int = 1) -> bool:
    """Count ``cost`` against ``limit``; whether it was within. An unreachable storage
    allows: a limiter outage must not lock everyone out."""
    try:
        return limiter.limiter.hit(parse(limit), _scoped(scope), identity, cost=cost)
    except Exception:
        log.exception("rate limit storage unreachable; letting the request through")
        return True


def count(limit: str, scope: str, identity: str, message: str) -> None:
    """Count one event against ``limit``; ``RateLimited`` (429) once it is used up."""
    if _enabled() and not _hit(limit, scope, identity):
        raise RateLimited(message, seconds_until_reset(limit, scope, identity))


def count_execution(user_id: str) -> None:
    count(current_app.config["RATELIMIT_EXECUTIONS"], "executions", user_id, "Too many executions started; slow down")


def count_webhook(token_digest: str) -> None:
    """A call of one webhook (known or not: guessing tokens counts too)."""
    count(current_app.config["RATELIMIT_WEBHOOK"], "webhook", token_digest, "Too many calls of this webhook")


def count_sign_up(address: str | None) -> None:
    message = "Too many sign-ups from this address; try again later"
    count(current_app.config["RATELIMIT_SIGNUP"], "signup", address or "unknown", message)


def count_api_call(caller: str) -> None:
    """``caller``: ``key:<id>`` of a verified key, or ``address:<ip>`` on a public path."""
    count(current_app.config["RATELIMIT_API"], "api", caller, "Too many API requests for this key")


def count_failed_key(address: str) -> None:
    """A request without a valid key; ``RateLimited`` once its address has sent too many.
    Valid keys are not held up by their address: they count per key."""
    message = "Too many requests with no valid API key from this address"
    count(current_app.config["RATELIMIT_AUTH_FAILURES"], "api-auth-failures", address, message)


@dataclass
class SignInAttempt:
    """An attempt already counted; ``give_back`` undoes the counts (a success, or a refusal)."""

    taken: list[Limit] = field(default_factory=list)

    def give_back(self) -> None:
        for limit, scope, identity in self.taken:
            _hit(limit, scope, identity, cost=-1)
        self.taken = []


def take_sign_in_attempt(email: str, address: str | None) -> SignInAttempt:
    """Count the attempt against every sign-in limit, or refuse it (``RateLimited``)
    without checking the password; a refused attempt counts for nothing."""
    attempt = SignInAttempt()
    if not _enabled():
        return attempt
    for limit, scope, identity in _sign_in_limits(email, address):
        allowed = _hit(limit, scope, identity)
        attempt.taken.append((limit, scope, identity))
        if not allowed:
            attempt.give_back()
            raise RateLimited("Too many failed sign-ins; try again later", seconds_until_reset(limit, scope, identity))
    return attempt


def _sign_in_limits(email: str, address: str | None) -> list[Limit]:
    config, account, address = current_app.config, email.strip().lower(), address or "unknown"
    return [
        (config["RATELIMIT_LOGIN"], "login", f"{account} from {address}"),
        (config["RATELIMIT_LOGIN_ACCOUNT"], "login-account", account),
        (config["RATELIMIT_LOGIN_ADDRESS"], "login-address", address),
    ]
