"""A/B: the first sandboxed step of a freshly started server, and its memory at rest.

``python -m bench.sandbox_start /path/to/other/checkout [--rounds 3] [--runs 20]`` starts
local mode on SQLite (gunicorn as the suite runs it: 2 × gthread(8)) from this checkout and
from the other, in turn, ``--rounds`` times. Each start: the first executions of a workflow
whose template computes (so its step runs in a sandbox process), until each web process
has run one; that step's own time as its execution records it (``duration_ms`` of the
node: from the node's start, so the wait for a sandbox is in it, the wait for the web
process to come up is not); the same after ``--runs`` more; then the memory (PSS, summed
over the web processes and everything they started: forkservers and sandboxes) once the
server has been idle for 2 s. Issue 31: the first step waited ~3.2 s for the pool, the
later ones 20-100 ms.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from .machine import tree_memory_kb
from .stack import APP_ROOT, ModelServerProcess, Stack
from .workflows import waiting_pipeline

FIRST_STEPS_TIMEOUT = 60.0


def computing() -> dict:
    """input → a template that computes (a sandbox step) → output: no model call."""
    definition = waiting_pipeline(0)
    nodes = [n for n in definition["nodes"] if n["type"] != "ai_model"]
    nodes[-1] = {"id": "out", "type": "output", "config": {"fields": {"text": "{{ topic.value }}"}}}
    connections = [{"from": a["id"], "to": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"nodes": nodes, "connections": connections}


def step_ms(stack: Stack, execution_id: str) -> tuple[float, str]:
    """The sandboxed step's duration and the process that ran it (``runner``)."""
    engine = create_engine(stack.database.url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT n.started_at, n.finished_at, e.runner FROM node_runs n JOIN executions e"
                    " ON e.id = n.execution_id WHERE n.execution_id = :id AND n.node_id = 'topic'"
                ),
                {"id": execution_id},
            ).one()
    finally:
        engine.dispose()
    started, finished = (_moment(value) for value in row[:2])
    return (finished - started) * 1000, row[2]


def _moment(value) -> float:
    from datetime import datetime

    return (value if isinstance(value, datetime) else datetime.fromisoformat(value)).timestamp()


def one_start(root: Path, model_url: str, runs: int) -> dict:
    with Stack("sqlite", model_url, "local", app_root=root) as stack:
        workflow_id = stack.api.create_workflow("sandbox start", computing())
        firsts: dict[str, float] = {}
        deadline = time.monotonic() + FIRST_STEPS_TIMEOUT
        while len(firsts) < stack.gunicorn.workers and time.monotonic() < deadline:
            status, body = stack.api.call("POST", f"/workflows/{workflow_id}/execute", {"inputs": {"text": "tea"}})
            assert status == 200 and body["status"] == "completed", body
            ms, runner = step_ms(stack, body["id"])
            firsts.setdefault(runner, ms)
        later = []
        for _ in range(runs):
            status, body = stack.api.call("POST", f"/workflows/{workflow_id}/execute", {"inputs": {"text": "tea"}})
            later.append(step_ms(stack, body["id"])[0])
        time.sleep(2)
        _, pss = tree_memory_kb([stack.web.pid])
        return {"first": max(firsts.values()), "later": statistics.median(later), "pss": pss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("other", type=Path, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20, help="executions after the first steps")
    args = parser.parse_args()
    model = ModelServerProcess()
    roots = {"A (this)": APP_ROOT, "B (other)": args.other.resolve()}
    answers: dict[str, list[dict]] = {name: [] for name in roots}
    try:
        for _ in range(args.rounds):
            for name, root in roots.items():
                answer = one_start(root, model.base_url, args.runs)
                answers[name].append(answer)
                print(f"{name}: {answer}", flush=True)
    finally:
        model.stop()
    print("\n| figure | A (this) | B (other) |\n|---|---|---|")
    for key, label in (
        ("first", "first sandboxed step after start (slowest web process), ms"),
        ("later", "later sandboxed steps, median ms"),
        ("pss", "memory at rest after the runs (PSS, web tree), MB"),
    ):
        cells = []
        for name in roots:
            values = [answer[key] for answer in answers[name]]
            cells.append(f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})")
        print(f"| {label} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
