"""The Redis connection, when ``REDIS_URL`` is set: one client (one pool) per app."""

from __future__ import annotations

from redis import Redis


def redis_connection(app) -> Redis | None:
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    client = app.extensions.get("redis")
    if client is None:
        # Reads may block as long as a sync request waits for its execution.
        client = app.extensions["redis"] = Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=app.config["SYNC_TIMEOUT"] + 10, health_check_interval=30
        )
    return client
