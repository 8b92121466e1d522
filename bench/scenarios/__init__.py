"""One module per scenario of issue 8; each has ``NAME``, ``TITLE`` and ``run(ctx)``."""

from . import (
    async_latency,
    cache,
    engine,
    evaluations,
    fanout,
    gunicorn,
    in_flight,
    reads,
    rq_floor,
    streams,
    sync,
    throughput,
    validation,
    worker_memory,
)

# In the order ``make bench`` runs them (and the report lists them).
ALL = [
    engine,
    gunicorn,
    rq_floor,
    throughput,
    sync,
    async_latency,
    fanout,
    cache,
    reads,
    worker_memory,
    in_flight,
    validation,
    streams,
    evaluations,
]
BY_NAME = {module.NAME: module for module in ALL}
