"""Test runs: every case of a workflow run against the draft or a published version.

Each case is a real execution (``trigger: "test"``) started as any run is, so it waits
its turn in the owner's fair share and counts against their limits and budgets; a
case that cannot start (its inputs no longer fit, a limit reached) is an ``error``
with the reason. All cases run the definition read once, when the test run begins
(a draft may change the next second), whose digest the publish gate looks for.
Cases are scored as their executions settle (``scoring.py``).
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from ..engine.status import ACTIVE, CaseStatus, TestRunStatus, Trigger
from ..errors import Conflict, NoTests, NotFound, ServiceError
from ..extensions import db
from ..models import Execution, TestRun, TestRunCase, User, Workflow, WorkflowVersion
from ..runs.start import cancel_execution, start_chosen
from ..runs.test_runs import DRAFT, TestOptions, choose
from ..services import audit
from ..services.drafts import own_workflow
from .cases import cases_of
from .records import digest
from .scoring import finish_if_done, record, settle_pending

log = logging.getLogger(__name__)


def start_test_run(user: User, workflow_id: str, version: str | int = DRAFT) -> TestRun:
    """404 for a version the caller may not see, 422 for a draft with problems, 409 for a
    workflow without cases; else the test run, its cases started."""
    workflow = own_workflow(user, workflow_id)
    cases = cases_of(workflow.id)
    if not cases:
        raise NoTests("This workflow has no test cases yet; add one first")
    chosen = choose(user, workflow, TestOptions(version=version))
    ran = chosen.definition if chosen.definition is not None else _published(workflow.id, chosen.version)
    run = TestRun(
        workflow_id=workflow.id,
        user_id=user.id,
        version=None if version == DRAFT else chosen.version,
        definition_digest=digest(ran),
    )
    run.cases = [
        TestRunCase(position=i, test_id=case.id, name=case.name, checks=case.checks) for i, case in enumerate(cases)
    ]
    db.session.add(run)
    db.session.flush()
    audit.record("test_run.started", user, "test_run", run.id, details={"workflow_id": workflow.id})
    db.session.commit()
    for row, case in zip(run.cases, cases, strict=True):
        if not _still_running(run.id):  # cancelled while its cases start: start no more
            break
        _start_case(user, workflow, chosen, row, case.inputs)
    if not _still_running(run.id):  # and stop any that started after the cancel looked
        _cancel_executions(user, run.id)
    finish_if_done(run.id)  # every case refused: nothing will settle to finish it
    return run


def _still_running(test_run_id: str) -> bool:
    status = db.session.scalar(select(TestRun.status).where(TestRun.id == test_run_id))
    db.session.commit()
    return status == TestRunStatus.RUNNING


def _published(workflow_id: str, version: int) -> dict:
    return db.session.get(WorkflowVersion, (workflow_id, version)).definition


def _start_case(user: User, workflow: Workflow, chosen, row: TestRunCase, inputs: dict) -> None:
    """The case's execution, linked to it in the same commit (it may settle at once)."""

    def link(execution: Execution) -> None:
        row.execution_id = execution.id

    try:
        start_chosen(user, workflow, chosen, inputs, trigger=Trigger.TEST, also=link)
    except Exception as exc:  # inputs that no longer fit, a limit or budget reached; or a fault
        db.session.rollback()
        if not isinstance(exc, ServiceError):
            log.exception("starting case %s of test run %s", row.position, row.test_run_id)
        why = exc.message if isinstance(exc, ServiceError) else f"internal error ({type(exc).__name__})"
        record(row, CaseStatus.ERROR, [], f"not started: {why}")


def own_test_run(user: User, test_run_id: str) -> TestRun:
    run = db.session.get(TestRun, test_run_id) if isinstance(test_run_id, str) else None
    workflow = db.session.get(Workflow, run.workflow_id) if run is not None else None
    if run is None or run.user_id != user.id or workflow is None or workflow.deleted_at is not None:
        raise NotFound(f"No test run '{test_run_id}'")
    return run


def list_test_runs(user: User, workflow_id: str, *, limit: int = 20, offset: int = 0):
    workflow = own_workflow(user, workflow_id)
    scope = TestRun.workflow_id == workflow.id
    total = db.session.scalar(select(func.count()).select_from(TestRun).where(scope))
    rows = db.session.scalars(
        select(TestRun).where(scope).order_by(TestRun.created_at.desc(), TestRun.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


def cancel_test_run(user: User, test_run_id: str) -> TestRun:
    """Its cases' executions are cancelled; a case not scored yet is an ``error``."""
    run = own_test_run(user, test_run_id)
    if run.status != TestRunStatus.RUNNING:
        raise Conflict(f"Test run '{run.id}' already {run.status}")
    settle_pending(run.id, "the test run was cancelled")
    if not finish_if_done(run.id, TestRunStatus.CANCELLED):  # its last case was scored meanwhile
        db.session.expire_all()
        raise Conflict(f"Test run '{run.id}' already {db.session.get(TestRun, run.id).status}")
    _cancel_executions(user, run.id)
    audit.record("test_run.cancelled", user, "test_run", run.id, details={"workflow_id": run.workflow_id})
    db.session.commit()
    db.session.expire_all()
    return db.session.get(TestRun, run.id)


def _cancel_executions(user: User, test_run_id: str) -> None:
    active = db.session.scalars(
        select(Execution.id)
        .join(TestRunCase, TestRunCase.execution_id == Execution.id)
        .where(TestRunCase.test_run_id == test_run_id, Execution.status.in_(ACTIVE))
    ).all()
    for execution_id in active:
        try:
            cancel_execution(user, execution_id)
        except Conflict:  # it ended meanwhile
            db.session.rollback()
