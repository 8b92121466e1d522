"""Sync execute under wrk: executions per second and latency, every one recorded.

wrk (a Lua script adds the bearer key and the JSON body) POSTs
``{"async": false}`` executes of the 3-node workflow over keep-alive connections at
concurrency 1, 8 and 32; each answer is the finished execution (200). Afterwards
the database must hold at least as many completed executions as wrk got 200s.
"""

from __future__ import annotations

from ..core import Context, Result
from ..machine import CpuMeter
from ..measure import WARM_UP, outcome, post_executes, warm_up
from ..stack import Stack
from ..stats import Figure
from ..workflows import echo

NAME = "sync"
TITLE = "Sync execute under wrk (3-node workflow, recorded)"
CONCURRENCIES = (1, 8, 32)


def configs(ctx: Context) -> list[tuple[str, str, int]]:
    if ctx.quick:
        return [("postgres", "local", 0)]
    return [("sqlite", "local", 0), ("postgres", "local", 0), ("postgres", "queue", 2)]


def measure(stack: Stack, concurrency: int, duration: float, repeats: int) -> tuple[dict, list[dict], list[str]]:
    runs, cpu, problems = [], [], []
    for attempt in range(repeats):
        workflow_id = stack.api.create_workflow(f"sync c{concurrency} #{attempt}", echo())
        warm_up(stack, workflow_id)
        with CpuMeter() as meter:
            figures = post_executes(stack, workflow_id, sync=True, concurrency=concurrency, duration=duration)
        cpu.append(meter.stop())
        ok = figures["codes"].get(200, 0)
        recorded = outcome(stack, workflow_id)["counts"].get("completed", 0) - WARM_UP
        if ok != figures["requests"]:
            problems.append(f"c={concurrency}: answers {figures['codes']}, socket errors {figures['errors']}")
        if recorded < ok:
            problems.append(f"c={concurrency}: {ok} answers of 200 but only {recorded} completed executions recorded")
        runs.append(figures)
    return runs, cpu, problems


def run(ctx: Context) -> Result:
    result = Result(
        NAME,
        TITLE,
        'wrk (keep-alive, a Lua script for the bearer key and body) POSTs `{"async": false}` executes of the '
        "3-node workflow for a fixed time at concurrency 1, 8 and 32; figures are wrk's requests/s and its "
        "latency percentiles (all answers 200 with the finished execution). Each run's executions are then "
        f"counted in the database. gunicorn {ctx.gunicorn_label()}.",
    )
    duration = ctx.pick(10.0, 4.0)
    for db_kind, mode, workers in configs(ctx):
        with Stack(db_kind, ctx.model_url, mode, workers, ctx.gunicorn) as stack:
            for concurrency in CONCURRENCIES:
                runs, cpu, problems = measure(stack, concurrency, duration, ctx.repeats)
                rate = Figure.of([r["rps"] for r in runs], "exec/s")
                p50 = Figure.of([r["p50_ms"] for r in runs], "ms")
                target, met, headline = "", None, ""
                if concurrency == 8:
                    target, met = "≥ 200/s", rate.median >= 200
                elif concurrency == 1:
                    target, met, headline = "p50 < 10 ms", p50.median < 10, "p50"
                result.add(
                    f"{stack.label()}, c={concurrency}",
                    {"exec/s": rate, "p50": p50, "p99": Figure.of([r["p99_ms"] for r in runs], "ms")},
                    conditions=f"wrk -c{concurrency} -d{duration:.0f}s",
                    target=target,
                    met=met,
                    headline=headline,
                    cpu_samples=cpu,
                )
                result.notes += [f"{stack.label()}: {p}" for p in problems]
    return result
