"""Reading the outcome of a load from the database the app wrote it to."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from sqlalchemy import text

from .machine import tree_cpu_seconds
from .stack import Stack
from .workflows import ECHO_INPUTS
from .wrk import run_wrk

WARM_UP = 60  # executions run before a measurement, not counted in it
TERMINAL = ("completed", "failed", "cancelled")


def post_executes(stack: Stack, workflow_id: str, *, sync: bool, concurrency: int, duration: float) -> dict:
    """wrk POSTing executes of a workflow (with the echo inputs) for ``duration`` seconds;
    ``web_cpu_ms``: the gunicorn processes' CPU per answer meanwhile (in local mode that
    includes running the executions)."""
    body = {"inputs": ECHO_INPUTS, "async": not sync}
    path = f"/api/v1/workflows/{workflow_id}/execute"
    return web_load(stack, [path], method="POST", body=body, concurrency=concurrency, duration=duration)


def web_load(stack: Stack, paths: list[str], **wrk) -> dict:
    """``run_wrk`` against the stack, with the web's CPU per answer (``web_cpu_ms``) beside wrk's figures."""
    cpu_before = tree_cpu_seconds(stack.web.pid)
    result = run_wrk(stack.port, stack.key, paths=paths, **wrk)
    result["web_cpu_ms"] = (tree_cpu_seconds(stack.web.pid) - cpu_before) * 1000 / max(result["requests"], 1)
    return result


def outcome(stack: Stack, workflow_id: str) -> dict:
    """Counts by status, and the span from the first ``created_at`` to the last ``finished_at``."""
    with stack.database.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT status, count(*), min(created_at), max(finished_at) FROM executions "
                "WHERE workflow_id = :wf GROUP BY status"
            ),
            {"wf": workflow_id},
        ).all()
    counts = {row[0]: row[1] for row in rows}
    firsts = [_moment(row[2]) for row in rows if row[2] is not None]
    lasts = [_moment(row[3]) for row in rows if row[0] in TERMINAL and row[3] is not None]
    return {
        "counts": counts,
        "terminal": sum(counts.get(s, 0) for s in TERMINAL),
        "total": sum(counts.values()),
        "first_created": min(firsts) if firsts else None,
        "last_finished": max(lasts) if lasts else None,
    }


def window(stack: Stack, workflow_id: str, since: float) -> dict:
    """The executions of ``workflow_id`` created after ``since`` (a ``time.time()``):
    how many completed, and the span from the first created to the last finished."""
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(since, UTC).replace(tzinfo=None)
    with stack.database.engine.connect() as conn:
        total, completed, first, last = conn.execute(
            text(
                "SELECT count(*), sum(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), min(created_at), "
                "max(finished_at) FROM executions WHERE workflow_id = :wf AND created_at >= :t"
            ),
            {"wf": workflow_id, "t": moment},
        ).one()
    span = (_moment(last) - _moment(first)).total_seconds() if first and last else float("nan")
    return {"total": total, "completed": completed or 0, "span": span}


def _moment(value):
    """SQLite hands back strings through text(); PostgreSQL datetimes."""
    if isinstance(value, str):
        from datetime import datetime

        return datetime.fromisoformat(value)
    return value


def wait_until_terminal(
    stack: Stack, workflow_id: str, expected: int, timeout: float = 900.0, poll: float = 0.25
) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = outcome(stack, workflow_id)
        if found["terminal"] >= expected:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {found['terminal']} of {expected} executions finished: {found['counts']}")
        time.sleep(poll)


def submit_async(stack: Stack, workflow_id: str, count: int, concurrency: int, inputs: dict | None = None) -> dict:
    """Async executes from a second process (``bench.loadgen``)."""
    argv = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--port",
        str(stack.port),
        "--key",
        stack.key,
        "--workflow",
        workflow_id,
        "--count",
        str(count),
        "--concurrency",
        str(concurrency),
        "--inputs",
        json.dumps(inputs or ECHO_INPUTS),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"loadgen failed:\n{done.stderr}")
    return json.loads(done.stdout)


def warm_up(stack: Stack, workflow_id: str, count: int = WARM_UP, inputs: dict | None = None) -> None:
    """Every web worker and rq worker has run the workflow once (parsed graph, pools)."""
    submit_async(stack, workflow_id, count, 8, inputs)
    wait_until_terminal(stack, workflow_id, count, timeout=120)
