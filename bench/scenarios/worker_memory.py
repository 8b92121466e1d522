"""Worker memory over many executions: does an rq worker's RSS creep?

Queue mode on PostgreSQL with one rq worker (``webapp.runs.worker.AppWorker``). A second
process submits 10,000 async executes of input → model call (uncached, 0 ms) →
processing → output; the worker's RSS is sampled every 0.5 s against the number of
executions finished. Growth is measured from the RSS once 500 have run (imports,
pools and caches are warm by then) to the RSS at the end.
"""

from __future__ import annotations

import threading

from ..core import Context, Result
from ..machine import CpuMeter, memory_kb
from ..measure import outcome, submit_async, wait_until_terminal
from ..stack import Stack
from ..stats import Figure
from ..workflows import model_pipeline

NAME = "worker_memory"
TITLE = "Worker memory over 10,000 executions"
TARGET_PCT = 10.0
WARM = 500  # executions before the reference RSS (a fifth of a quick run)


def run(ctx: Context) -> Result:
    count = ctx.pick(10_000, 800)
    result = Result(
        NAME,
        TITLE,
        f"One `rq worker` (AppWorker, PostgreSQL) runs {count:,} executions of input → `ai_model` (uncached, 0 ms at "
        "the loopback server) → processing → output, submitted by a second process. The worker's RSS is sampled "
        f"every 0.5 s; growth = (RSS at the end − RSS after {WARM}) ÷ RSS after {WARM}. One long run: the "
        "spread shown is the min–max RSS after the warm-up.",
    )
    with Stack("postgres", ctx.model_url, "queue", 1, ctx.gunicorn) as stack:
        worker = stack.rq_workers[0]
        workflow_id = stack.api.create_workflow("worker memory", model_pipeline())
        samples: list[tuple[int, int]] = []  # (finished executions, RSS kB)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                rss, _ = memory_kb(worker.pid)
                samples.append((outcome(stack, workflow_id)["terminal"], rss))
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        with CpuMeter() as meter:
            sampler.start()
            submit_async(stack, workflow_id, count, 8, {"text": "a long report about quarterly numbers"})
            found = wait_until_terminal(stack, workflow_id, count, timeout=3600)
            stop.set()
            sampler.join()
        cpu = meter.stop()
        final_rss, _ = memory_kb(worker.pid)
        samples.append((found["terminal"], final_rss))
        warm_at = min(WARM, count // 5)
        warm = next((rss for done, rss in samples if done >= warm_at), samples[0][1])
        after = [rss / 1024 for done, rss in samples if done >= warm_at]
        growth = (final_rss - warm) / warm * 100
        checkpoints = []
        for step in range(1, 11):
            goal = count * step // 10
            hit = next(((done, rss) for done, rss in samples if done >= goal), samples[-1])
            checkpoints.append({"executions": hit[0], "rss_mb": round(hit[1] / 1024, 1)})
        result.add(
            "1 rq worker, PostgreSQL",
            {
                "RSS growth": Figure(growth, growth, growth, 1, "%"),
                f"RSS after {warm_at}": Figure.of([warm / 1024], "MB"),
                "RSS at the end": Figure(final_rss / 1024, min(after), max(after), len(after), "MB"),
                "executions/s": Figure.of([count / cpu["seconds"]], "exec/s"),
            },
            conditions=f"{count:,} executions, {found['counts']}",
            target=f"< {TARGET_PCT:g} %",
            met=growth < TARGET_PCT,
            cpu_samples=[cpu],
        )
        result.extra["checkpoints"] = checkpoints
        result.notes.append(
            "RSS at each tenth: " + ", ".join(f"{c['executions']:,}: {c['rss_mb']} MB" for c in checkpoints) + "."
        )
    return result
