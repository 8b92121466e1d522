"""Settings. The only module that reads the environment.

Every knob has a default that suits a laptop; production mode (``APP_ENV=production``)
refuses to start without a ``SECRET_KEY`` rather than signing sessions with a
well-known one.
"""

from __future__ import annotations

import json
import math
import os
from datetime import timedelta
from pathlib import Path

from .engine.attempts import MAX_RETRIES
from .engine.definition import Size

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = BASE_DIR / "instance"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; raised at start-up, never mid-request."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _int(name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    """An integer from ``low`` to ``high``: a negative size, a pool of no threads or more
    retries than a node may ask for is refused at start-up, not found out mid-run."""
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"from {low} to {high}"
        raise ConfigError(f"{name} must be {bounds}, got {value}")
    return value


def _float(name: str, default: float, *, positive: bool = False) -> float:
    """A finite number, never negative; ``positive``: above 0 too (an interval of 0 would
    spin, a timeout of 0 fail everything, an infinite one bound nothing)."""
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "above 0" if positive else "0 or more"
        raise ConfigError(f"{name} must be a finite number, {bound}, got {raw!r}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _json(name: str, default: dict) -> dict:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object")
    return value


def default_database_url() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'app.db'}"


class Config:
    """Read once per process, when ``create_app`` runs."""

    def __init__(self) -> None:
        self.ENV = _env("APP_ENV", "development")
        self.SECRET_KEY = _env("SECRET_KEY")
        if self.SECRET_KEY is None:
            if self.ENV == "production":
                raise ConfigError(
                    "SECRET_KEY is not set. Production mode refuses to start without it: "
                    "set SECRET_KEY to a long random string "
                    '(python -c "import secrets; print(secrets.token_hex(32))").'
                )
            self.SECRET_KEY = "dev-only-secret-key-not-for-production"

        self.SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", default_database_url())
        self.REDIS_URL = _env("REDIS_URL")
        self.OPENAI_API_KEY = _env("OPENAI_API_KEY")
        self.OPENAI_BASE_URL = _env("OPENAI_BASE_URL")

        # Requests and definitions.
        self.MAX_CONTENT_LENGTH = _int("MAX_REQUEST_BYTES", 1024 * 1024)
        self.MAX_DEFINITION_BYTES = _int("MAX_DEFINITION_BYTES", 512 * 1024)
        # A definition's size (the engine's ``Size`` holds the defaults and says why).
        self.MAX_NODES = _int("MAX_NODES", Size.max_nodes)
        self.MAX_CONNECTIONS = _int("MAX_CONNECTIONS", Size.max_connections)
        self.MAX_EXPRESSIONS = _int("MAX_EXPRESSIONS", Size.max_expressions)
        self.MAX_INPUT_BYTES = _int("MAX_INPUT_BYTES", 256 * 1024)
        self.MAX_NODE_OUTPUT_BYTES = _int("MAX_NODE_OUTPUT_BYTES", 1024 * 1024)
        # Host names, addresses or CIDR ranges that outbound requests may reach although
        # they are private or local (outbound addresses: docs/api.md and SECURITY.md); empty: public only.
        self.HTTP_ALLOWED_HOSTS = os.environ.get("HTTP_ALLOWED_HOSTS", "")
        # Fernet key (urlsafe base64 of 32 bytes) for provider keys and webhook tokens at rest;
        # unset: derived from SECRET_KEY.
        self.ENCRYPTION_KEY = _env("ENCRYPTION_KEY")
        self.SCHEDULE_MIN_INTERVAL = _int("SCHEDULE_MIN_INTERVAL", 60)
        self.MAX_TRIGGERS_PER_USER = _int("MAX_TRIGGERS_PER_USER", 100)  # webhooks and schedules together; 0: no bound
        # How often due schedules are looked for.
        self.SCHEDULER_INTERVAL = _float("SCHEDULER_INTERVAL", 5.0, positive=True)
        self.SCHEDULER_ENABLED = _bool("SCHEDULER_ENABLED", True)
        self.MAX_RENDER_CHARS = _int("MAX_RENDER_CHARS", 200_000)

        # Requests of one web process running the app at once, the rest queued in arrival
        # order (admission.py); a request waiting on its run gives its turn up meanwhile.
        self.ACTIVE_REQUESTS = _int("ACTIVE_REQUESTS", 4, low=1)

        # Event streams (runs/events.py, api/streams.py): open streams per web process (each
        # holds a thread: over it, 503 with Retry-After), the events one execution's log keeps
        # (the oldest go first), how long a log outlives its last event, and how often an idle
        # stream sends a keep-alive and looks whether its execution settled unannounced.
        self.STREAM_SLOTS = _int("STREAM_SLOTS", 32, low=1)
        self.STREAM_MAX_EVENTS = _int("STREAM_MAX_EVENTS", 10_000, low=100)
        self.STREAM_TTL = _int("STREAM_TTL", 3600, low=60)
        self.STREAM_KEEPALIVE = _float("STREAM_KEEPALIVE", 15.0, positive=True)

        # Execution.
        self.SYNC_TIMEOUT = _float("SYNC_TIMEOUT", 30.0)
        self.EXECUTION_TIMEOUT = _float("EXECUTION_TIMEOUT", 600.0, positive=True)
        self.NODE_CONCURRENCY = _int("NODE_CONCURRENCY", 8, low=1)  # a run's nodes at once; a map's items by default
        self.MAX_MAP_ITEMS = _int("MAX_MAP_ITEMS", 1000)
        self.MAX_WORKFLOW_DEPTH = _int("MAX_WORKFLOW_DEPTH", 5)  # workflow nodes calling workflows
        # Executions at once per RQ worker, per web process in local mode (it serves
        # requests too: more threads there only contend, measured), and per user across
        # all of them (0: no bound).
        self.WORKER_CONCURRENCY = _int("WORKER_CONCURRENCY", 16, low=1)
        self.WORKER_ACTIVE_RUNS = _int("WORKER_ACTIVE_RUNS", 1, low=1)
        self.LOCAL_WORKERS = _int("LOCAL_WORKERS", 8, low=1)
        self.MAX_RUNNING_PER_USER = _int("MAX_RUNNING_PER_USER", 4)
        # Added to an rq worker's niceness as it starts: where the web shares the machine,
        # requests get the CPU first and runs (and their sandbox processes) what is left.
        self.WORKER_NICE = _int("WORKER_NICE", 10, high=19)

        # Users' templates run in sandbox processes: how many per process, how much memory
        # each may add, how long one step may compute (engine/isolation.py).
        self.SANDBOX_PROCESSES = _int("SANDBOX_PROCESSES", 4, low=1)
        self.SANDBOX_MEMORY_MB = _int("SANDBOX_MEMORY_MB", 512)
        self.SANDBOX_STEP_TIMEOUT = _float("SANDBOX_STEP_TIMEOUT", 30.0, positive=True)
        self.RQ_QUEUE = _env("RQ_QUEUE", "executions")
        self.IDEMPOTENCY_TTL = _int("IDEMPOTENCY_TTL", 24 * 3600)

        # Recovery: how often a running execution proves it is alive, how long
        # silence means its worker is gone, and how often the reaper looks.
        self.HEARTBEAT_INTERVAL = _float("HEARTBEAT_INTERVAL", 10.0, positive=True)
        self.WORKER_LOST_AFTER = _float("WORKER_LOST_AFTER", 60.0, positive=True)
        self.REAPER_INTERVAL = _float("REAPER_INTERVAL", 30.0, positive=True)
        self.REAPER_ENABLED = _bool("REAPER_ENABLED", True)
        # A run in flight rides out a database outage this long, keeping what it did in
        # memory until it can write it (outages.py); past that, the reaper settles it.
        self.DATABASE_OUTAGE_WINDOW = _float("DATABASE_OUTAGE_WINDOW", 300.0)

        # Models.
        self.MODEL_TIMEOUT = _float("MODEL_TIMEOUT", 60.0, positive=True)
        self.MODEL_RETRIES = _int("MODEL_RETRIES", 2, high=MAX_RETRIES)
        self.DEFAULT_MODEL = _env("DEFAULT_MODEL", "gpt-4o-mini")
        self.MODEL_PRICES = _json("MODEL_PRICES", {})
        self.CACHE_ENABLED = _bool("CACHE_ENABLED", True)
        self.CACHE_TTL = _int("CACHE_TTL", 24 * 3600)

        # Accounts, limits and budgets.
        self.REGISTRATION_ENABLED = _bool("REGISTRATION_ENABLED", True)
        # How long a browser stays signed in (its cookie, and the session on the server).
        self.SESSION_LIFETIME_HOURS = _float("SESSION_LIFETIME_HOURS", 14 * 24.0, positive=True)
        self.RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
        # Failed sign-ins per account and address together; per account from any address
        # and per address for any account, higher (ratelimits.py says why).
        self.RATELIMIT_LOGIN = _env("RATELIMIT_LOGIN", "10 per 15 minutes")
        self.RATELIMIT_LOGIN_ACCOUNT = _env("RATELIMIT_LOGIN_ACCOUNT", "50 per 15 minutes")
        self.RATELIMIT_LOGIN_ADDRESS = _env("RATELIMIT_LOGIN_ADDRESS", "30 per 15 minutes")
        self.RATELIMIT_API = _env("RATELIMIT_API", "600 per minute")
        self.RATELIMIT_AUTH_FAILURES = _env("RATELIMIT_AUTH_FAILURES", "30 per minute")
        self.RATELIMIT_KEY_PREFIX = _env("RATELIMIT_KEY_PREFIX", "")  # deployments sharing one Redis
        self.RATELIMIT_EXECUTIONS = _env("RATELIMIT_EXECUTIONS", "120 per minute")
        self.RATELIMIT_WEBHOOK = _env("RATELIMIT_WEBHOOK", "60 per minute")  # per webhook token
        self.RATELIMIT_SIGNUP = _env("RATELIMIT_SIGNUP", "10 per hour")  # sign-ups tried per address
        self.MONTHLY_TOKEN_BUDGET = _int("MONTHLY_TOKEN_BUDGET", 0)  # 0 = unlimited
        self.MONTHLY_COST_BUDGET = _float("MONTHLY_COST_BUDGET", 0.0)  # 0 = unlimited

        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=self.SESSION_LIFETIME_HOURS)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.PREFERRED_URL_SCHEME = _env("PREFERRED_URL_SCHEME", "http")
        self.SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", self.PREFERRED_URL_SCHEME == "https")
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session

    def as_dict(self) -> dict:
        return {key: value for key, value in vars(self).items() if key.isupper()}


class TestConfig(Config):
    """What the test suite starts from; fixtures override the database and queue."""

    def __init__(self) -> None:
        super().__init__()
        self.TESTING = True
        self.SECRET_KEY = "test-secret-key"
        self.WTF_CSRF_ENABLED = True
        self.REAPER_ENABLED = False
        self.SCHEDULER_ENABLED = False
        self.RATELIMIT_ENABLED = False
        self.REDIS_URL = None
        self.OPENAI_API_KEY = "test-key"
