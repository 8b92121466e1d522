"""A test run's page (live while it runs: its fragment is polled, as an execution's is)
with each case's checks, expected beside actual; and two test runs of one workflow
compared case by case."""

from __future__ import annotations

from types import SimpleNamespace

from flask import flash, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ..engine.status import CaseStatus, TestRunStatus
from ..errors import Conflict, NotFound
from ..evaluations import runs as run_service
from ..evaluations.checks import expected, judge_messages
from ..evaluations.kinds import CheckKind
from ..evaluations.records import Tally, shown_outputs, tallies
from ..extensions import db
from ..models import Execution, utcnow
from ..services.drafts import own_workflow
from . import bp
from .check_forms import kind_label
from .executions import POLL_SECONDS
from .rendering import is_fragment_request, redirect_to, respond
from .tests_tab import RUNS_SHOWN, run_rows


def _user():
    return current_user._get_current_object()


def executions_of(runs) -> dict[str, Execution]:
    ids = [row.execution_id for run in runs for row in run.cases if row.execution_id is not None]
    if not ids:
        return {}
    return {e.id: e for e in db.session.scalars(select(Execution).where(Execution.id.in_(ids)))}


def duration_ms(run) -> float:
    """A finished run's time; a running one's so far."""
    return ((run.finished_at or utcnow()) - run.created_at).total_seconds() * 1000


def case_view(row, execution: Execution | None) -> SimpleNamespace:
    """One case as the page shows it: each check as the case ran it, beside the result it
    got (results come in the checks' order), the actual value it looked at, and for a
    judge the exact messages the judging model is sent."""
    outputs = shown_outputs(execution)  # past 64 KB left out, as the API does: the execution has them
    results = row.results or []
    checks = []
    for index, check in enumerate(row.checks or []):
        name = check.get("output")
        present = outputs is not None and name in outputs
        actual = outputs.get(name) if present else None
        checks.append(
            SimpleNamespace(
                kind=check.get("kind"),
                label=kind_label(check.get("kind")),
                output=name,
                expected=expected(check),
                present=present,
                actual=actual,
                result=results[index] if index < len(results) else None,
                prompt=judge_messages(check.get("criteria", ""), actual)
                if check.get("kind") == CheckKind.JUDGE and present
                else None,
            )
        )
    spent = sum((row.cost_usd or 0, getattr(execution, "cost_usd", 0) or 0))
    return SimpleNamespace(
        row=row,
        execution=execution,
        checks=checks,
        outputs=outputs,
        left_out=outputs is None and execution is not None and execution.outputs is not None,
        cost_usd=spent,
        duration_ms=execution.duration_ms if execution is not None else None,
    )


def run_view(run, executions: dict[str, Execution], tally: Tally) -> SimpleNamespace:
    return SimpleNamespace(
        run=run,
        tally=tally,
        duration_ms=duration_ms(run),
        cases=[case_view(row, executions.get(row.execution_id)) for row in run.cases],
    )


def _run_context(run) -> dict:
    workflow = own_workflow(_user(), run.workflow_id)
    view = run_view(run, executions_of([run]), tallies([run.id]).get(run.id, Tally()))
    return {
        "workflow": workflow,
        "view": view,
        "running": run.status == TestRunStatus.RUNNING,
        "poll_seconds": POLL_SECONDS,
        "title_tag": is_fragment_request(),
    }


@bp.get("/test-runs/<test_run_id>")
def test_run(test_run_id: str):
    run = run_service.own_test_run(_user(), test_run_id)
    return respond("test_runs/detail.html", "partials/_test_run_live.html", **_run_context(run))


@bp.get("/test-runs/<test_run_id>/live")
def test_run_live(test_run_id: str):
    """The live part of the page; polled while the test run is running."""
    run = run_service.own_test_run(_user(), test_run_id)
    return respond("test_runs/detail.html", "partials/_test_run_live.html", **_run_context(run))


@bp.post("/test-runs/<test_run_id>/cancel")
def test_run_cancel(test_run_id: str):
    try:
        run = run_service.cancel_test_run(_user(), test_run_id)
    except Conflict as exc:  # it ended meanwhile: the page shows how
        run = run_service.own_test_run(_user(), test_run_id)
        flash(exc.message, "info")
    else:
        flash("Test run cancelled.", "info")
    if not is_fragment_request():
        return redirect_to(url_for("ui.test_run", test_run_id=run.id))
    return respond("partials/_test_run_live.html", **_run_context(run))


# -- comparison ----------------------------------------------------------------------------------


def matched_cases(a, b) -> list[SimpleNamespace]:
    """Case by case, matched by ``test_id``: ``a``'s order first, then what only ``b`` ran."""
    by_test = {view.row.test_id: view for view in b.cases}
    rows = []
    for view in a.cases:
        rows.append(SimpleNamespace(name=view.row.name, a=view, b=by_test.pop(view.row.test_id, None)))
    rows += [SimpleNamespace(name=view.row.name, a=None, b=view) for view in b.cases if view.row.test_id in by_test]
    for row in rows:  # passed in one, not in the other: the rows worth a look
        both = row.a is not None and row.b is not None
        row.changed = both and (row.a.row.status == CaseStatus.PASSED) != (row.b.row.status == CaseStatus.PASSED)
    return rows


@bp.get("/workflows/<workflow_id>/test-runs/compare")
def test_run_compare(workflow_id: str):
    """``?a=tr_…&b=tr_…``: two test runs of this workflow side by side (left out: the two
    newest, older first)."""
    user = _user()
    workflow = own_workflow(user, workflow_id)
    runs, _ = run_service.list_test_runs(user, workflow.id, limit=RUNS_SHOWN)
    if len(runs) < 2 and not (request.args.get("a") and request.args.get("b")):
        flash("Run the tests twice to compare two runs.", "info")
        return redirect_to(url_for("ui.workflow_tests", workflow_id=workflow.id))
    newest = {"a": runs[1].id if len(runs) > 1 else "", "b": runs[0].id if runs else ""}
    chosen = []
    for key in ("a", "b"):
        run = run_service.own_test_run(user, request.args.get(key) or newest[key])
        if run.workflow_id != workflow.id:  # not one of this workflow's: as if there were none
            raise NotFound(f"No test run '{run.id}' of this workflow")
        chosen.append(run)
    counted = tallies([run.id for run in chosen])
    executions = executions_of(chosen)
    a, b = (run_view(run, executions, counted.get(run.id, Tally())) for run in chosen)
    return respond(
        "test_runs/compare.html",
        workflow=workflow,
        a=a,
        b=b,
        rows=matched_cases(a, b),
        runs=run_rows(runs),
    )
