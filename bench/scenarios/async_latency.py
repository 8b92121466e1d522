"""Async execute latency under load, and the memory of the running system.

wrk POSTs ``{"async": true}`` executes of the 3-node workflow at concurrency 8;
the figures are the percentiles of the 202 answers. Meanwhile (and until the
backlog has run) the RSS and PSS of the web processes (gunicorn master and
workers) plus, in queue mode, the one rq worker are sampled every 0.25 s.

In queue mode the same stack then answers a request that starts nothing (the
key's check and a 404) at the same concurrency, the worker idle: the floor the
web, its framework and the key's check set on this machine, beside the 202's tail.
"""

from __future__ import annotations

import threading
import time

from ..core import Context, Result
from ..machine import CpuMeter, tree_memory_kb
from ..measure import outcome, post_executes, wait_until_terminal, warm_up, web_load
from ..stack import Stack
from ..stats import Figure
from ..workflows import echo

NAME = "async"
TITLE = "Async execute latency under load (c=8) and memory of web + one worker"
CONCURRENCY = 8
MEMORY_TARGET_MB = 250
# Authenticated, one primary-key read, a 404 envelope: the least an API request does.
NOTHING_STARTED = "/api/v1/executions/exec-none"


class MemorySampler(threading.Thread):
    def __init__(self, pids: list[int], every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pids, self.every = pids, every
        self.samples: list[tuple[int, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append(tree_memory_kb(self.pids))
            self.done.wait(self.every)

    def stop(self) -> tuple[float, float, float]:
        """(peak RSS, median RSS, peak PSS) in MB."""
        self.done.set()
        self.join()
        rss = sorted(r for r, _ in self.samples)
        return rss[-1] / 1024, rss[len(rss) // 2] / 1024, max(p for _, p in self.samples) / 1024


def configs(ctx: Context) -> list[tuple[str, str, int]]:
    if ctx.quick:
        return [("postgres", "queue", 1)]
    return [("postgres", "queue", 1), ("postgres", "local", 0), ("sqlite", "local", 0)]


def run(ctx: Context) -> Result:
    result = Result(
        NAME,
        TITLE,
        f'wrk -c{CONCURRENCY} POSTs `{{"async": true}}` executes of the 3-node workflow for a fixed time; the '
        "latency is wrk's, of the 202 answers; in queue mode, the web's CPU per 202 is the gunicorn processes' CPU "
        "time over the load divided by the answers, and the floor is the same load of a request that starts nothing "
        f"(`GET {NOTHING_STARTED}`: the key's check and a 404) once the backlog has run. "
        "Memory: RSS summed over the gunicorn master and workers and (queue "
        "mode) the one rq worker, sampled every 0.25 s from the start of the load until the backlog has run; "
        "PSS alongside (RSS counts pages that forked gunicorn workers share once per process). "
        f"gunicorn {ctx.gunicorn_label()}.",
    )
    duration = ctx.pick(10.0, 4.0)
    for db_kind, mode, workers in configs(ctx):
        with Stack(db_kind, ctx.model_url, mode, workers, ctx.gunicorn) as stack:
            runs, cpu, memory, backlog, floors = [], [], [], [], []
            for attempt in range(ctx.repeats):
                workflow_id = stack.api.create_workflow(f"async #{attempt}", echo())
                warm_up(stack, workflow_id)
                sampler = MemorySampler(stack.server_pids())
                sampler.start()
                with CpuMeter() as meter:
                    figures = post_executes(stack, workflow_id, sync=False, concurrency=CONCURRENCY, duration=duration)
                cpu.append(meter.stop())
                ended = time.monotonic()
                wait_until_terminal(stack, workflow_id, outcome(stack, workflow_id)["total"])
                backlog.append(time.monotonic() - ended)
                memory.append(sampler.stop())
                if figures["codes"].get(202, 0) != figures["requests"]:
                    result.notes.append(f"{stack.label()}: answers {figures['codes']}, errors {figures['errors']}")
                runs.append(figures)
                if mode == "queue":
                    floors.append(web_load(stack, [NOTHING_STARTED], concurrency=CONCURRENCY, duration=duration))
                    if floors[-1]["codes"].get(404, 0) != floors[-1]["requests"]:
                        result.notes.append(f"{stack.label()}: the floor's answers {floors[-1]['codes']}")
            p99 = Figure.of([r["p99_ms"] for r in runs], "ms")
            figures = {
                "202 p50": Figure.of([r["p50_ms"] for r in runs], "ms"),
                "202 p99": p99,
                "accepted/s": Figure.of([r["rps"] for r in runs], "req/s"),
                "backlog drain after load": Figure.of(backlog, "s"),
            }
            if mode == "queue":  # what the 202s cost the web beside how long they took (local mode runs them too)
                figures["web CPU per 202"] = Figure.of([r["web_cpu_ms"] for r in runs], "ms")
                figures["floor p99 (starting nothing)"] = Figure.of([f["p99_ms"] for f in floors], "ms")
                figures["floor web CPU per answer"] = Figure.of([f["web_cpu_ms"] for f in floors], "ms")
            result.add(
                f"{stack.label()}: latency",
                figures,
                conditions=f"wrk -c{CONCURRENCY} -d{duration:.0f}s",
                target="p99 < 50 ms",
                met=p99.median < 50,
                headline="202 p99",
                cpu_samples=cpu,
            )
            peak = Figure.of([m[0] for m in memory], "MB")
            result.add(
                f"{stack.label()}: memory (web{' + 1 worker' if workers else ''})",
                {
                    "peak RSS": peak,
                    "median RSS": Figure.of([m[1] for m in memory], "MB"),
                    "peak PSS": Figure.of([m[2] for m in memory], "MB"),
                },
                conditions=f"gunicorn {stack.gunicorn.label()} + master" + (", 1 rq worker" if workers else ""),
                target=f"< {MEMORY_TARGET_MB} MB" if mode == "queue" else "",
                met=(peak.median < MEMORY_TARGET_MB) if mode == "queue" else None,
            )
    return result
