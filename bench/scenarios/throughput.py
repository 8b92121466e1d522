"""End-to-end throughput: executions completed per second.

A second process (``bench.loadgen``, 16 keep-alive connections) POSTs
``{"async": true}`` executes of the 3-node workflow as fast as the app answers;
the figure is the number completed divided by the span from the first execution's
``created_at`` to the last one's ``finished_at``, read from the database once all
are terminal. Local mode (the thread pools inside gunicorn's workers) and queue
mode with 1, 2 and 4 rq workers, on SQLite and on PostgreSQL. With the ``rq_floor``
scenario in the same run, queue mode is also given as a fraction of RQ's own floor.
"""

from __future__ import annotations

from ..core import Context, Result
from ..machine import CpuMeter
from ..measure import WARM_UP, submit_async, wait_until_terminal, warm_up, window
from ..stack import Stack
from ..stats import Figure, percentile
from ..workflows import echo
from . import rq_floor

NAME = "throughput"
TITLE = "End-to-end throughput (async execute, 3-node workflow)"
TARGET = 220.0
CONCURRENCY = 16


def configs(ctx: Context) -> list[tuple[str, str, int]]:
    if ctx.quick:
        return [("sqlite", "local", 0), ("postgres", "queue", 1)]
    return [
        (db, mode, n) for db in ("sqlite", "postgres") for mode, n in (("local", 0), *(("queue", k) for k in (1, 2, 4)))
    ]


def run(ctx: Context) -> Result:
    result = Result(
        NAME,
        TITLE,
        f'`POST /api/v1/workflows/{{id}}/execute` with `{{"async": true}}` from a second process '
        f"({CONCURRENCY} keep-alive connections, as fast as the 202s come back) for a fixed number of executions; "
        "executions completed ÷ (last `finished_at` − first `created_at`), read from the database once every "
        f"execution is terminal. gunicorn {ctx.gunicorn_label()}; queue mode adds N `rq worker` processes "
        "(`webapp.runs.worker.AppWorker`).",
    )
    count = ctx.pick(2000, 300)
    points = []
    for db_kind, mode, workers in configs(ctx):
        with Stack(db_kind, ctx.model_url, mode, workers, ctx.gunicorn) as stack:
            rates, submit_rates, p99s, cpu, failed = [], [], [], [], 0
            for attempt in range(ctx.repeats):
                workflow_id = stack.api.create_workflow(f"throughput {attempt}", echo())
                warm_up(stack, workflow_id)
                with CpuMeter() as meter:
                    sent = submit_async(stack, workflow_id, count, CONCURRENCY)
                    wait_until_terminal(stack, workflow_id, count + WARM_UP)
                cpu.append(meter.stop())
                accepted = sent["statuses"].get("202", 0)
                if accepted != count:
                    raise RuntimeError(f"{stack.label()}: only {accepted} of {count} executes were accepted: {sent}")
                # The warm-up's executions come first: measure from the load's own first one.
                load = window(stack, workflow_id, sent["started"])
                failed += load["total"] - load["completed"]
                rates.append(load["completed"] / load["span"])
                submit_rates.append(count / (sent["ended"] - sent["started"]))
                p99s.append(percentile(sent["latencies_ms"], 99))
            figure = Figure.of(rates, "exec/s")
            figures = {
                "completed/s": figure,
                "accepted/s (202s)": Figure.of(submit_rates, "req/s"),
                "202 p99": Figure.of(p99s, "ms"),
            }
            floor = ctx.shared.get(rq_floor.NAME)
            if mode == "queue" and floor:  # measured earlier in this run
                figures["÷ RQ floor"] = Figure.of([rate / floor for rate in rates], "× floor")
            result.add(
                stack.label(),
                figures,
                conditions=f"{count} executions per run, {CONCURRENCY} connections",
                target=f"≥ {TARGET:.0f}/s",
                met=figure.median >= TARGET,
                cpu_samples=cpu,
            )
            if failed:
                result.notes.append(f"{stack.label()}: {failed} executions did not complete.")
            points.append({"db": db_kind, "mode": mode, "workers": workers, **figure.as_dict()})
    result.extra["points"] = points
    return result
