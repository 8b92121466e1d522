"""Cache hit: the time inside a model node whose answer comes from the cache.

input → one cacheable ``ai_model`` node → output. One execution fills the cache;
then the same input runs again and again (sync). The figure is the node's own
time as recorded in ``node_runs`` (``finished_at − started_at``, microseconds:
rendering the prompt, the cache key, the lookup, the output), over the cached runs.
Local mode looks answers up in the database table; queue mode in Redis.
"""

from __future__ import annotations

from sqlalchemy import text

from ..core import Context, Result
from ..machine import CpuMeter
from ..measure import _moment
from ..stack import Stack
from ..stats import Figure, percentile
from ..workflows import cached_model

NAME = "cache"
TITLE = "Cache hit: per-node time of a cached model call"
TARGET_MS = 2.0


def run(ctx: Context) -> Result:
    result = Result(
        NAME,
        TITLE,
        "Sync executes of input → cacheable `ai_model` → output with the same input; the first fills the cache. "
        "Figure: `finished_at − started_at` of the model node's row (µs precision) over the cached runs; the "
        "spread is the p10–p90 over those runs (not over repeated sets), p99 beside it.",
    )
    count = ctx.pick(200, 30)
    cases = [
        ("postgres", "local", 0, "database table"),
        ("sqlite", "local", 0, "database table"),
        ("postgres", "queue", 1, "Redis"),
    ]
    for db_kind, mode, workers, where in cases[: ctx.pick(3, 2)]:
        with Stack(db_kind, ctx.model_url, mode, workers, ctx.gunicorn) as stack:
            workflow_id = stack.api.create_workflow("cache", cached_model())
            path = f"/workflows/{workflow_id}/execute"
            meter = CpuMeter()
            for i in range(count + 1):
                if i == 1:
                    meter.__enter__()  # after the first run, which fills the cache
                status, body = stack.api.call("POST", path, {"inputs": {"text": "the same question"}})
                if status != 200 or body["status"] != "completed":
                    raise RuntimeError(f"cache execution answered {status}: {body}")
            cpu = [meter.stop()]
            with stack.database.engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT n.started_at, n.finished_at FROM node_runs n "
                        "JOIN executions e ON e.id = n.execution_id "
                        "WHERE e.workflow_id = :wf AND n.node_id = 'gen' AND n.cached"
                    ),
                    {"wf": workflow_id},
                ).all()
            times = [(_moment(b) - _moment(a)).total_seconds() * 1000 for a, b in rows]
            if len(times) < count:
                result.notes.append(f"{stack.label()}: only {len(times)} of {count} runs were cache hits")
            median = percentile(times, 50)
            spread = Figure(median, percentile(times, 10), percentile(times, 90), len(times), "ms")
            result.add(
                f"{stack.label()} (cache in the {where})",
                {"node time p50": spread, "node time p99": Figure.of([percentile(times, 99)], "ms")},
                conditions=f"{len(times)} cached runs, sequential",
                target=f"< {TARGET_MS:g} ms",
                met=median < TARGET_MS,
                cpu_samples=cpu,
            )
    return result
