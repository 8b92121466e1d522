"""The publish gate: a workflow that requires passing tests publishes only a definition
whose newest test run passed every case (a draft changed since needs a new run)."""

from __future__ import annotations

from ..engine.status import TestRunStatus
from ..errors import TestsFailed
from ..models import Workflow
from .records import digest, latest_runs_of, tallies


def refuse_untested(workflow: Workflow, definition: dict) -> None:
    """``TestsFailed`` (409) unless ``definition`` may be published."""
    if not workflow.require_passing_tests:
        return
    problem = gate_problem(workflow.id, definition)
    if problem is not None:
        raise TestsFailed(f"This workflow requires passing tests: {problem}")


def gate_problem(workflow_id: str, definition: dict) -> str | None:
    """Why ``definition`` may not be published yet, in words (the editor shows it beside
    Publish), or None."""
    run = latest_runs_of(workflow_id, [digest(definition)]).get(digest(definition))
    if run is None:
        return "this draft has no test run yet; run the tests"
    if run.status == TestRunStatus.RUNNING:
        return f"its test run {run.id} is still running"
    if run.status == TestRunStatus.CANCELLED:
        return f"its newest test run {run.id} was cancelled; run the tests again"
    tally = tallies([run.id]).get(run.id)
    if tally is None or not tally.all_passed:
        passed, total = (tally.passed, tally.total) if tally else (0, 0)
        return f"its newest test run {run.id} passed {passed} of {total} cases"
    return None
