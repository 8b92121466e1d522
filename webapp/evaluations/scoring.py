"""Scoring a test run's cases as their executions settle, and finishing the test run.

A case is scored by the process that ran its execution, right after the run's own
follow-ups (``runs/dispatch.py``: a judge's model call holds up no one's next run).
A scorer first takes the case (``scoring_since``, a lease as long as scoring can take:
no judge is asked twice, nor its spending lost), and every write is a compare-and-set on
``status = 'pending'``, so a case is scored once whoever gets there first — the runner,
the reaper's sweep (``sweep``: a case whose execution settled without its runner,
cancelled while queued or lost with its worker, or whose scorer died), or a cancel of
the whole test run.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import or_, select, update

from ..engine.status import CaseStatus, RunStatus, TestRunStatus
from ..extensions import db
from ..llm import gateway_for
from ..models import Execution, TestRun, TestRunCase, User, utcnow
from ..services.limits import BudgetedModels, watch_budget
from ..services.providers import settings_for
from . import checks

log = logging.getLogger(__name__)
cases = TestRunCase.__table__
DETAIL_MAX = 1000


def score_execution(execution_id: str) -> None:
    """Score the case this (``trigger: "test"``) execution ran for, if it is one. A failure
    is logged, not raised: the run is settled, and the reaper's sweep scores the case later."""
    try:
        row = db.session.scalar(select(TestRunCase).where(TestRunCase.execution_id == execution_id))
        if row is None or row.status != CaseStatus.PENDING:
            db.session.commit()
            return
        score_case(current_app._get_current_object(), row)
    except Exception:
        db.session.rollback()
        log.exception("could not score the test case that execution %s ran for", execution_id)


def score_case(app: Flask, row: TestRunCase) -> None:
    if not _take(app, row):
        return  # another scorer has it
    execution = db.session.get(Execution, row.execution_id)
    user = db.session.get(User, execution.user_id)
    outputs, status, error = execution.outputs, execution.status, execution.error
    db.session.commit()  # no transaction stays open across a judge's model call
    if status != RunStatus.COMPLETED:
        why = f"its execution {status}" + (f": {error['message']}" if error else "")
        _record(row, CaseStatus.ERROR, [], why)
        return
    results = checks.score(
        row.checks,
        outputs,
        sandboxes=_sandboxes(app),
        models=_judges(app, user, row.checks),
        deadline=time.monotonic() + app.config["EXECUTION_TIMEOUT"],  # a case is scored within a run's time
    )
    if any(result.error for result in results):
        verdict = CaseStatus.ERROR
    else:
        verdict = CaseStatus.PASSED if all(result.passed for result in results) else CaseStatus.FAILED
    _record(row, verdict, results)


def _lease_expired(app: Flask):
    """A taken case whose scorer has had all the time scoring can take, and more."""
    lease = timedelta(seconds=app.config["EXECUTION_TIMEOUT"] + app.config["WORKER_LOST_AFTER"])
    return or_(cases.c.scoring_since.is_(None), cases.c.scoring_since < utcnow() - lease)


def _take(app: Flask, row: TestRunCase) -> bool:
    taken = db.session.execute(
        update(cases)
        .where(
            cases.c.test_run_id == row.test_run_id,
            cases.c.position == row.position,
            cases.c.status == CaseStatus.PENDING,
            _lease_expired(app),
        )
        .values(scoring_since=utcnow())
    ).rowcount
    db.session.commit()
    return bool(taken)


def _sandboxes(app: Flask):
    from ..runs.execution import sandboxes  # the running process's pool: runs import this module

    return sandboxes(app)


def _judges(app: Flask, user: User, given: list[dict]):
    """The owner's model gateway, with the providers their judge checks name, held to their budget."""
    names = {check.get("provider") for check in given if check.get("kind") == "judge"} - {None}
    models = gateway_for(app).for_owner(user.id, settings_for(user.id, names))
    budget = watch_budget(user.id, user.token_budget, user.cost_budget)
    return BudgetedModels(models, budget) if budget is not None else models


def _record(row: TestRunCase, status: CaseStatus, results: list, detail: str | None = None) -> None:
    spent = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost_usd": 0.0}
    for result in results:
        if result.usage is not None:
            for key, value in result.usage.as_dict().items():
                spent[key] += value
        spent["cost_usd"] += result.cost_usd
    db.session.execute(
        update(cases)
        .where(
            cases.c.test_run_id == row.test_run_id,
            cases.c.position == row.position,
            cases.c.status == CaseStatus.PENDING,
        )
        .values(
            status=status,
            results=[result.as_dict() for result in results],
            detail=detail[:DETAIL_MAX] if detail else None,
            scored_at=utcnow(),
            **spent,
        )
    )
    db.session.commit()
    finish_if_done(row.test_run_id)


def settle_pending(test_run_id: str, why: str) -> None:
    """Every case not scored yet is an ``error`` (a cancelled test run's)."""
    db.session.execute(
        update(cases)
        .where(cases.c.test_run_id == test_run_id, cases.c.status == CaseStatus.PENDING)
        .values(status=CaseStatus.ERROR, detail=why, results=[], scored_at=utcnow())
    )


def finish_if_done(test_run_id: str, status: TestRunStatus = TestRunStatus.COMPLETED) -> None:
    """Running → ``status`` once no case is pending (whoever scores the last one)."""
    pending = select(cases.c.position).where(cases.c.test_run_id == test_run_id, cases.c.status == CaseStatus.PENDING)
    runs = TestRun.__table__
    db.session.execute(
        update(runs)
        .where(runs.c.id == test_run_id, runs.c.status == TestRunStatus.RUNNING, ~pending.exists())
        .values(status=status, finished_at=utcnow())
    )
    db.session.commit()


def sweep(app: Flask) -> int:
    """The reaper's pass: cases whose execution settled with no one to score them —
    ended without a runner (cancelled while queued, lost with its worker: an error,
    no judge needed), or completed ``WORKER_LOST_AFTER`` ago and still not scored."""
    lost_before = utcnow() - timedelta(seconds=app.config["WORKER_LOST_AFTER"])
    rows = db.session.scalars(
        select(TestRunCase)
        .join(Execution, Execution.id == TestRunCase.execution_id)
        .join(TestRun, TestRun.id == TestRunCase.test_run_id)
        .where(
            TestRun.status == TestRunStatus.RUNNING,
            TestRunCase.status == CaseStatus.PENDING,
            _lease_expired(app),
            Execution.status.in_((RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.COMPLETED)),
            or_(Execution.status != RunStatus.COMPLETED, Execution.finished_at < lost_before),
        )
        .limit(100)
    ).all()
    for row in rows:
        try:
            score_case(app, row)
        except Exception:  # one case must not keep the others unscored
            db.session.rollback()
            log.exception("could not score case %s of test run %s", row.position, row.test_run_id)
    return len(rows)
