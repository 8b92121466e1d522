"""Fan-out: 8 model calls of 200 ms each, independent, in one execution.

Sync executes, one after another, of input → 8 ``ai_model`` nodes → output; every
prompt asks the loopback server for a 200 ms answer (``[[latency=0.2]]``), with
a fresh topic each time and ``cache: false``. The figure is the execution's own
``duration_ms`` (started → finished, as recorded) ÷ 200 ms; the request's wall
time ÷ 200 ms is shown beside it.
"""

from __future__ import annotations

import time
import uuid

from ..core import Context, Result
from ..machine import CpuMeter
from ..stack import Stack
from ..stats import Figure
from ..workflows import fan_out

NAME = "fanout"
TITLE = "Fan-out: 8 parallel model calls of 200 ms"
TARGET = 1.3


def run(ctx: Context) -> Result:
    result = Result(
        NAME,
        TITLE,
        "Sequential sync executes of input → 8 independent `ai_model` nodes (200 ms each at the loopback server, "
        "uncached) → output. Figure: the execution's recorded `duration_ms` ÷ 200 ms (1.0 = perfectly parallel, "
        "8.0 = serial); the HTTP request's wall time ÷ 200 ms beside it. Spread is over executions.",
    )
    count = ctx.pick(15, 3)
    for db_kind, mode, workers in (("postgres", "local", 0), ("postgres", "queue", 1)):
        with Stack(db_kind, ctx.model_url, mode, workers, ctx.gunicorn) as stack:
            workflow_id = stack.api.create_workflow("fan-out", fan_out(8, 0.2))
            ratios, walls = [], []
            meter = CpuMeter()
            for i in range(count + 1):
                if i == 1:
                    meter.__enter__()  # the first run connects to the model server and parses the graph
                started = time.perf_counter()
                status, body = stack.api.call(
                    "POST", f"/workflows/{workflow_id}/execute", {"inputs": {"topic": uuid.uuid4().hex}}
                )
                wall = time.perf_counter() - started
                if status != 200 or body["status"] != "completed":
                    raise RuntimeError(f"fan-out execution answered {status}: {body}")
                if i:
                    ratios.append(body["duration_ms"] / 200)
                    walls.append(wall * 1000 / 200)
            cpu = [meter.stop()]
            figure = Figure.of(ratios, "× 200 ms")
            result.add(
                stack.label(),
                {"execution time": figure, "request wall time": Figure.of(walls, "× 200 ms")},
                conditions=f"{count} sequential executions, NODE_CONCURRENCY=8",
                target=f"≤ {TARGET}",
                met=figure.median <= TARGET,
                cpu_samples=cpu,
            )
    return result
