"""Which gunicorn set-up suits 2 cores: a small grid of gthread workers × threads.

Each set-up serves sync executes (local mode, PostgreSQL) to wrk at concurrency 8
and 32; the one with the best rate at 8 (fewer processes on a tie within 5 %) is
what the other scenarios use in local mode (``stack.DEFAULT_GUNICORN``).
"""

from __future__ import annotations

from ..core import Context, Result
from ..machine import tree_memory_kb
from ..stack import DEFAULT_GUNICORN, GunicornConfig, Stack
from ..stats import Figure
from .sync import measure

NAME = "gunicorn"
TITLE = "gunicorn set-up for 2 cores (sync execute, local mode, PostgreSQL)"


def grid(ctx: Context) -> list[GunicornConfig]:
    if ctx.quick:
        return [GunicornConfig(1, 8), GunicornConfig(2, 8)]
    return [GunicornConfig(w, t) for w, t in ((1, 8), (1, 16), (2, 4), (2, 8), (3, 4), (4, 4))]


def run(ctx: Context) -> Result:
    result = Result(
        NAME,
        TITLE,
        "The sync scenario's measurement (wrk POSTs sync executes of the 3-node workflow) for each gunicorn "
        "set-up, `--worker-class gthread`, local mode on PostgreSQL, plus the web processes' memory (PSS) "
        "after the load.",
    )
    duration = ctx.pick(6.0, 3.0)
    best: tuple[float, GunicornConfig] | None = None
    for config in grid(ctx):
        with Stack("postgres", ctx.model_url, "local", 0, config) as stack:
            figures = {}
            for concurrency in (8, 32):
                runs, cpu, _ = measure(stack, concurrency, duration, max(1, ctx.repeats - 1))
                figures[f"exec/s c={concurrency}"] = Figure.of([r["rps"] for r in runs], "exec/s")
                figures[f"p99 c={concurrency}"] = Figure.of([r["p99_ms"] for r in runs], "ms")
            _, pss = tree_memory_kb([stack.web.pid])
            figures["web PSS"] = Figure.of([pss / 1024], "MB")
            result.add(config.label(), figures, conditions=f"wrk -d{duration:.0f}s", cpu_samples=cpu)
            rate = figures["exec/s c=8"].median
            if best is None or rate > best[0] * 1.05 or (rate > best[0] * 0.95 and config.workers < best[1].workers):
                best = (max(rate, best[0]) if best else rate, config)
    result.extra["best"] = {"workers": best[1].workers, "threads": best[1].threads}
    result.notes.append(
        f"Best at concurrency 8 here: {best[1].label()}. The other scenarios use {DEFAULT_GUNICORN.label()} "
        "in local mode (`bench/stack.py`, `DEFAULT_GUNICORN`), chosen from this grid when the baseline was taken, "
        "and one worker in queue mode, where the web only accepts."
    )
    return result
