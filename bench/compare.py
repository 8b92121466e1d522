"""A/B: the same cases on this checkout and another one, runs interleaved.

``python -m bench.compare /path/to/patched/checkout [--rounds 3]`` starts each case's
stack twice (this checkout's app and the other's), then alternates measurements
between them, so whatever else the machine is doing weighs on both alike. Prints
the medians and the change. Handy to judge a patch before the full suite. Each side
runs with its checkout's own ``.venv`` when it has one, so a dependency can be judged too.
``--b-gunicorn WORKERS:THREADS`` gives side B another web layout: with ``.`` as the other
checkout, that judges a layout alone.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from .measure import WARM_UP, outcome, post_executes, submit_async, wait_until_terminal, warm_up, window
from .stack import APP_ROOT, GunicornConfig, ModelServerProcess, Stack, flush_redis
from .workflows import echo

# Beside the rate, the web's CPU per execution (local mode: the run's too): on a machine
# others share, the cost of a change shows there when the rate drowns in their noise.
SYNC_FIGURES = {"exec/s": "rps", "CPU ms per run": "web_cpu_ms"}
# (label, database, mode, rq workers, kind, concurrency, figures: {name: key of measure()'s answer})
CASES = [
    ("sync, PostgreSQL local, c=1", "postgres", "local", 0, "sync", 1, {"p50 ms": "p50_ms"}),
    ("sync, PostgreSQL local, c=8", "postgres", "local", 0, "sync", 8, SYNC_FIGURES),
    ("sync, SQLite local, c=8", "sqlite", "local", 0, "sync", 8, SYNC_FIGURES),
    (
        "async 202, PostgreSQL queue 1 worker, c=8",
        "postgres",
        "queue",
        1,
        "async",
        8,
        # Beside the tail, what the web spent per 202: whether a change cut the request's
        # own work, or only moved how the requests wait.
        {"p99 ms": "p99_ms", "web CPU ms per 202": "web_cpu_ms"},
    ),
    ("throughput, PostgreSQL local", "postgres", "local", 0, "throughput", 16, {"completed/s": "rate"}),
    ("throughput, PostgreSQL queue 2 workers", "postgres", "queue", 2, "throughput", 16, {"completed/s": "rate"}),
]


def measure(stack: Stack, kind: str, concurrency: int, seconds: float, count: int) -> dict:
    workflow_id = stack.api.create_workflow(f"compare {kind}", echo())
    warm_up(stack, workflow_id)
    if kind == "throughput":
        sent = submit_async(stack, workflow_id, count, concurrency)
        wait_until_terminal(stack, workflow_id, count + WARM_UP)
        load = window(stack, workflow_id, sent["started"])
        return {"rate": load["completed"] / load["span"]}
    result = post_executes(stack, workflow_id, sync=kind == "sync", concurrency=concurrency, duration=seconds)
    if kind == "async":  # let the backlog run before the other side measures
        wait_until_terminal(stack, workflow_id, outcome(stack, workflow_id)["total"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("other", type=Path, help="the other checkout (its webapp/, wsgi.py, migrations/)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--count", type=int, default=1000, help="executions per throughput run")
    parser.add_argument("--only", help="run the cases whose label contains this")
    parser.add_argument("--b-gunicorn", metavar="WORKERS:THREADS", help="side B's web layout instead of the mode's")
    args = parser.parse_args()
    b_gunicorn = GunicornConfig.parse(args.b_gunicorn) if args.b_gunicorn else None
    flush_redis()
    model = ModelServerProcess()
    roots = {"A (this)": APP_ROOT, "B (other)": args.other.resolve()}
    rows = []
    try:
        for case, db, mode, workers, kind, concurrency, figures in CASES:
            if args.only and args.only not in case:
                continue
            with (
                Stack(db, model.base_url, mode, workers, app_root=roots["A (this)"]) as a,
                Stack(db, model.base_url, mode, workers, b_gunicorn, app_root=roots["B (other)"]) as b,
            ):
                answers = {"A (this)": [], "B (other)": []}
                for _ in range(args.rounds):
                    for name, stack in (("A (this)", a), ("B (other)", b)):
                        answers[name].append(measure(stack, kind, concurrency, args.seconds, args.count))
            for figure, key in figures.items():
                label = f"{case}: {figure}"
                values = {name: [round(answer[key], 2) for answer in runs] for name, runs in answers.items()}
                med_a, med_b = statistics.median(values["A (this)"]), statistics.median(values["B (other)"])
                rows.append((label, med_a, med_b, values))
                print(
                    f"{label}: A {med_a:.2f}  B {med_b:.2f}  ({(med_b / med_a - 1) * 100:+.0f} %)  runs {values}",
                    flush=True,
                )
    finally:
        model.stop()
        flush_redis()
    print("\n| case | A (this) | B (other) | change |\n|---|---|---|---|")
    for label, med_a, med_b, _ in rows:
        print(f"| {label} | {med_a:.2f} | {med_b:.2f} | {(med_b / med_a - 1) * 100:+.0f} % |")


if __name__ == "__main__":
    main()
