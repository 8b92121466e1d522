"""A test run of 50 cases: its wall time, and what it adds per case beyond the execution.

Each case runs the same one-model-call workflow (a 0.2 s answer from the loopback model
server, uncached) with inputs of its own, and is scored by two checks (``contains`` and
``max_length``: one sandbox round trip per case). The same 50 inputs are first run as
plain async executes, all started at once, and waited for: the runs alone. Then the test
run is started and polled until it has ended. Both run inside one user's fair share
(``MAX_RUNNING_PER_USER`` 4, the default), so the cases run four at a time either way;
the overhead per case is the difference of the two wall times over the 50 cases.
"""

from __future__ import annotations

import time

from ..core import Context, Result
from ..measure import wait_until_terminal
from ..stack import Stack
from ..stats import Figure
from ..workflows import graded_answer

NAME = "evaluations"
TITLE = "A 50-case test run: wall time and overhead per case"
CASES = 50
LATENCY = 0.2
CHECKS = [
    {"output": "answer", "kind": "contains", "value": "question"},
    {"output": "answer", "kind": "max_length", "value": 500},
]
POLL_SECONDS = 0.02
SETTINGS = {"MAX_RUNNING_PER_USER": "4"}


def _inputs(round_: int, case: int) -> dict:
    return {"question": f"question {case} of round {round_}"}  # each its own: no cache answers it


def _runs_alone(stack: Stack, workflow_id: str, round_: int) -> float:
    began = time.monotonic()
    for case in range(CASES):
        status, body = stack.api.call(
            "POST", f"/workflows/{workflow_id}/execute", {"inputs": _inputs(round_, case), "async": True}
        )
        assert status == 202, body
    wait_until_terminal(stack, workflow_id, CASES, poll=POLL_SECONDS)
    return time.monotonic() - began


def _test_run(stack: Stack, workflow_id: str) -> tuple[float, dict]:
    began = time.monotonic()
    status, run = stack.api.call("POST", f"/workflows/{workflow_id}/test-runs", {"version": "draft"})
    assert status == 202, run
    while run["status"] == "running":
        time.sleep(POLL_SECONDS)
        _, run = stack.api.call("GET", f"/test-runs/{run['id']}")
    return time.monotonic() - began, run


def run(ctx: Context) -> Result:
    result = Result(
        NAME,
        TITLE,
        f"{CASES} cases of a one-model-call workflow ({LATENCY:g} s answers, uncached) with two checks each, "
        "inside one user's fair share (MAX_RUNNING_PER_USER 4). First the same inputs as plain async executes, "
        "started at once and waited for; then the test run, from its POST until it has ended (polled every "
        f"{POLL_SECONDS * 1000:.0f} ms). Overhead per case: (test run − executes alone) / {CASES}.",
    )
    configs = [("postgres", "queue", 1)] if ctx.quick else [("postgres", "queue", 1), ("sqlite", "local", 0)]
    for db_kind, mode, workers in configs:
        with Stack(db_kind, ctx.model_url, mode, workers, ctx.gunicorn, settings=SETTINGS) as stack:
            alone, tested, overhead = [], [], []
            for round_ in range(ctx.repeats):
                workflow_id = stack.api.create_workflow(f"graded #{round_}", graded_answer(LATENCY))
                alone.append(_runs_alone(stack, workflow_id, round_))
                for case in range(CASES):
                    body = {"name": f"case {case}", "inputs": _inputs(round_ + 1000, case), "checks": CHECKS}
                    status, made = stack.api.call("POST", f"/workflows/{workflow_id}/tests", body)
                    assert status == 201, made
                wall, ended = _test_run(stack, workflow_id)
                if ended["passed"] != CASES:
                    result.notes.append(f"{stack.label()}: {ended['passed']} of {CASES} cases passed")
                tested.append(wall)
                overhead.append((wall - alone[-1]) / CASES * 1000)
            result.add(
                stack.label(),
                {
                    "test run wall time": Figure.of(tested, "s"),
                    "executes alone": Figure.of(alone, "s"),
                    "overhead per case": Figure.of(overhead, "ms"),
                },
                conditions=f"{CASES} cases, {LATENCY:g} s model answers, 4 at a time",
            )
    return result
