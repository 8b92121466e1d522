"""Executions in flight per worker process, and what they cost it in memory.

Queue mode on PostgreSQL with one rq worker (``webapp.runs.worker.AppWorker``,
``WORKER_CONCURRENCY=16``). For each level N, N executions of input → processing (a
template that computes, so it runs in a sandbox process) → model call that waits 8 s
at the loopback server → output are submitted; once N are running together, the
worker's RSS and the PSS of its sandbox processes (and their forkserver) are read
from ``/proc``. Then they are left to finish before the next level.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..core import Context, Result
from ..machine import memory_kb
from ..measure import outcome, submit_async, wait_until_terminal
from ..stack import Stack
from ..stats import Figure
from ..workflows import waiting_pipeline

NAME = "in_flight"
TITLE = "Executions in flight per worker process vs its memory"
LATENCY = 8.0
LEVELS = (1, 4, 8, 16)


def descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        for task in Path(f"/proc/{stack.pop()}/task").glob("*"):
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            stack += children
    return found


def run(ctx: Context) -> Result:
    result = Result(
        NAME,
        TITLE,
        f"One `rq worker` (AppWorker, PostgreSQL, `WORKER_CONCURRENCY=16`). At each level N, N executions of input → "
        f"processing (a computing template, run in a sandbox process) → a model call waiting {LATENCY:g} s → output "
        "are in flight at once; the worker's RSS and the summed PSS of its sandbox processes (and their forkserver) "
        "are read from /proc while all N wait on the model.",
    )
    with Stack("postgres", ctx.model_url, "queue", 1, ctx.gunicorn) as stack:
        worker = stack.rq_workers[0]
        workflow_id = stack.api.create_workflow("in flight", waiting_pipeline(LATENCY))
        done = 0
        for level in LEVELS:
            submit_async(stack, workflow_id, level, level, {"text": "quarterly numbers"})
            deadline = time.monotonic() + LATENCY
            while outcome(stack, workflow_id)["counts"].get("running", 0) < level and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)  # past the template step: every run is waiting on its model call
            running = outcome(stack, workflow_id)["counts"].get("running", 0)
            rss, _ = memory_kb(worker.pid)
            sandboxes = sum(memory_kb(pid)[1] for pid in descendants(worker.pid))
            done += level
            wait_until_terminal(stack, workflow_id, done, timeout=120)
            result.add(
                f"{level} in flight",
                {
                    "running together": Figure.of([running], ""),
                    "worker RSS": Figure.of([rss / 1024], "MB"),
                    "sandboxes PSS": Figure.of([sandboxes / 1024], "MB"),
                },
                conditions=f"model latency {LATENCY:g} s",
            )
    return result
