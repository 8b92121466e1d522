"""Scoring a test run's cases as their executions settle, and finishing the test run.

A case is scored in the process that ran its execution, once the run has settled, on a
small pool of scorer threads of its own (``scorer``): a judge's model call holds up no
run, no worker's turn and no slot for the next job. A scorer first takes the case
(``scoring_since``, a lease as long as scoring can take, so no judge is asked twice), and
every verdict is a compare-and-set on ``status = 'pending'``, so a case is scored once,
whoever gets there first: the scorer, the reaper's sweep (``sweep``: a case whose
execution settled without its runner — cancelled while queued, lost with its worker —
or whose scorer died, or that never started), or a cancel of the whole test run. What a
judge spent is counted even when its verdict comes too late to be the case's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

from flask import Flask
from sqlalchemy import and_, or_, select, update

from ..engine.errors import Interrupted
from ..engine.status import CaseStatus, RunStatus, TestRunStatus
from ..engine.stopping import StopSignal
from ..extensions import db
from ..llm import gateway_for
from ..models import Execution, TestRun, TestRunCase, User, utcnow
from ..services.limits import BudgetedModels, watch_budget
from ..services.providers import settings_for
from . import checks
from .records import SPENT

log = logging.getLogger(__name__)
cases = TestRunCase.__table__
runs = TestRun.__table__
DETAIL_MAX = 1000
SCORER_THREADS = 2  # per process: cases waiting on judges queue behind these
_lock = threading.Lock()


def scorer(app: Flask) -> ThreadPoolExecutor:
    """This process's scorer threads, started on first use."""
    found = app.extensions.get("scorer")
    if found is None:
        with _lock:
            found = app.extensions.get("scorer")
            if found is None:
                found = app.extensions["scorer"] = ThreadPoolExecutor(SCORER_THREADS, thread_name_prefix="scorer")
    return found


def score_later(app: Flask, execution_id: str) -> None:
    """Score, on a scorer thread, the case this settled ``trigger: "test"`` execution ran for."""
    scorer(app).submit(_in_app, app, _score_execution, execution_id)


def _in_app(app: Flask, work, *args) -> None:
    """A scorer thread's task: any failure is logged, not raised (the sweep comes back to it)."""
    with app.app_context():
        try:
            work(app, *args)
        except Exception:
            db.session.rollback()
            log.exception("scoring %s failed; the reaper's sweep tries again", args)


def _score_execution(app: Flask, execution_id: str) -> None:
    row = db.session.scalar(select(TestRunCase).where(TestRunCase.execution_id == execution_id))
    db.session.commit()
    if row is not None and row.status == CaseStatus.PENDING:  # a test run's case (else: an editor's test)
        score_case(app, row)


def _score_row(app: Flask, test_run_id: str, position: int) -> None:
    row = db.session.get(TestRunCase, (test_run_id, position))
    db.session.commit()
    if row is not None and row.status == CaseStatus.PENDING:
        score_case(app, row)


def score_case(app: Flask, row: TestRunCase) -> None:
    if not _take(app, row):
        return  # another scorer has it
    execution = db.session.get(Execution, row.execution_id)
    user = db.session.get(User, execution.user_id)
    outputs, status, error = execution.outputs, execution.status, execution.error
    db.session.commit()  # no transaction stays open across a judge's model call
    if status != RunStatus.COMPLETED:
        why = f"its execution {status}" + (f": {error['message']}" if error else "")
        record(row, CaseStatus.ERROR, [], why)
        return
    deadline = time.monotonic() + app.config["EXECUTION_TIMEOUT"]  # a case is scored within a run's time
    stop = StopSignal(deadline)
    with _scoring_now(stop):
        try:
            results = checks.score(
                row.checks,
                outputs,
                sandboxes=_sandboxes(app),
                models=_judges(app, user, row.checks),
                deadline=deadline,
                stopped=stop,
            )
        except Interrupted:  # this process is shutting down: another takes the case at once
            _let_go(row)
            return
        except Exception as exc:  # a bug must not leave the case pending, retried pass after pass
            log.exception("scoring case %s of test run %s", row.position, row.test_run_id)
            record(row, CaseStatus.ERROR, [], f"it could not be scored ({type(exc).__name__})")
            return
    if any(result.error for result in results):
        verdict = CaseStatus.ERROR
    else:
        verdict = CaseStatus.PASSED if all(result.passed for result in results) else CaseStatus.FAILED
    record(row, verdict, results)


_stops: set[StopSignal] = set()  # of the scorings going on in this process


@contextmanager
def _scoring_now(stop: StopSignal) -> Iterator[None]:
    with _lock:
        _stops.add(stop)
    try:
        yield
    finally:
        with _lock:
            _stops.discard(stop)


def stop_scoring() -> None:
    """This process is shutting down: every scoring stops now (its case is let go)."""
    with _lock:
        stops = list(_stops)
    for stop in stops:
        stop.set()


def _sandboxes(app: Flask):
    from ..runs.execution import sandboxes  # the running process's pool: runs import this module

    return sandboxes(app)


def _judges(app: Flask, user: User, given: list[dict]):
    """The owner's model gateway, with the providers their judge checks name, held to their budget."""
    names = {check.get("provider") for check in given if check.get("kind") == "judge"} - {None}
    models = gateway_for(app).for_owner(user.id, settings_for(user.id, names))
    budget = watch_budget(user.id, user.token_budget, user.cost_budget)
    return BudgetedModels(models, budget) if budget is not None else models


def _lease_expired(app: Flask):
    """A case no scorer holds, or whose scorer has had all the time scoring can take, and more."""
    lease = timedelta(seconds=app.config["EXECUTION_TIMEOUT"] + app.config["WORKER_LOST_AFTER"])
    return or_(cases.c.scoring_since.is_(None), cases.c.scoring_since < utcnow() - lease)


def _this(row: TestRunCase):
    return and_(cases.c.test_run_id == row.test_run_id, cases.c.position == row.position)


def _take(app: Flask, row: TestRunCase) -> bool:
    taken = db.session.execute(
        update(cases)
        .where(_this(row), cases.c.status == CaseStatus.PENDING, _lease_expired(app))
        .values(scoring_since=utcnow())
    ).rowcount
    db.session.commit()
    return bool(taken)


def _let_go(row: TestRunCase) -> None:
    db.session.execute(update(cases).where(_this(row), cases.c.status == CaseStatus.PENDING).values(scoring_since=None))
    db.session.commit()


def record(row: TestRunCase, status: CaseStatus, results: list, detail: str | None = None) -> None:
    """The verdict, if the case is still pending (a cancel may have settled it meanwhile);
    what the judges spent either way."""
    spent = dict.fromkeys(SPENT, 0)
    for result in results:
        if result.usage is not None:
            for key, value in result.usage.as_dict().items():
                spent[key] += value
        spent["cost_usd"] += result.cost_usd
    now = utcnow()
    verdict = {
        "status": status,
        "results": [result.as_dict() for result in results],
        "detail": detail[:DETAIL_MAX] if detail else None,
        "scored_at": now,
        **spent,
    }
    settled = db.session.execute(
        update(cases).where(_this(row), cases.c.status == CaseStatus.PENDING).values(verdict)
    ).rowcount
    if not settled and any(spent.values()):
        added = {key: cases.c[key] + value for key, value in spent.items()}
        db.session.execute(update(cases).where(_this(row)).values(scored_at=now, **added))
    db.session.commit()
    finish_if_done(row.test_run_id)


def settle_pending(test_run_id: str, why: str) -> None:
    """Every case not scored yet is an ``error`` (a cancelled test run's)."""
    db.session.execute(
        update(cases)
        .where(cases.c.test_run_id == test_run_id, cases.c.status == CaseStatus.PENDING)
        .values(status=CaseStatus.ERROR, detail=why, results=[], scored_at=utcnow())
    )


def finish_if_done(test_run_id: str, status: TestRunStatus = TestRunStatus.COMPLETED) -> bool:
    """Running → ``status`` once no case is pending (whoever scores the last one); whether
    it was this call that ended it."""
    pending = select(cases.c.position).where(cases.c.test_run_id == test_run_id, cases.c.status == CaseStatus.PENDING)
    ended = db.session.execute(
        update(runs)
        .where(runs.c.id == test_run_id, runs.c.status == TestRunStatus.RUNNING, ~pending.exists())
        .values(status=status, finished_at=utcnow())
    ).rowcount
    db.session.commit()
    return bool(ended)


def sweep(app: Flask) -> int:
    """The reaper's pass over cases left pending with no one to score them: those that
    never started (their test run's start stopped partway) and those whose execution
    settled without its runner (cancelled while queued, lost with its worker) are errors,
    settled here; one whose execution completed ``WORKER_LOST_AFTER`` ago and is still not
    scored (its scorer died) goes to a scorer thread. How many it found."""
    lost_before = utcnow() - timedelta(seconds=app.config["WORKER_LOST_AFTER"])
    running = TestRun.status == TestRunStatus.RUNNING
    pending = [TestRunCase.status == CaseStatus.PENDING, _lease_expired(app)]
    never_started = db.session.scalars(
        select(TestRunCase)
        .join(TestRun, TestRun.id == TestRunCase.test_run_id)
        .where(running, *pending, TestRunCase.execution_id.is_(None), TestRun.created_at < lost_before)
        .limit(100)
    ).all()
    settled = db.session.execute(
        select(TestRunCase.test_run_id, TestRunCase.position, Execution.status)
        .join(Execution, Execution.id == TestRunCase.execution_id)
        .join(TestRun, TestRun.id == TestRunCase.test_run_id)
        .where(
            running,
            *pending,
            Execution.status.in_((RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.COMPLETED)),
            or_(Execution.status != RunStatus.COMPLETED, Execution.finished_at < lost_before),
        )
        .limit(100)
    ).all()
    db.session.commit()
    for row in never_started:
        record(row, CaseStatus.ERROR, [], "not started: its test run stopped before starting it")
    for test_run_id, position, status in settled:
        if status == RunStatus.COMPLETED:  # its checks may need a judge: not in the reaper's pass
            scorer(app).submit(_in_app, app, _score_row, test_run_id, position)
        else:
            _in_app(app, _score_row, test_run_id, position)
    return len(never_started) + len(settled)
