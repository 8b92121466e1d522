"""Executions as people see them: read, list, count. Starting, waiting, cancelling and
retrying are the run lifecycle's (``runs/start.py``); this module reads what it wrote."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, literal, or_, select, union_all

from ..engine.errors import Problem
from ..engine.status import RunStatus, Trigger
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from ..models import Execution, ExecutionCount, TestRun, TestRunCase, User, Workflow, utcnow

_counts = ExecutionCount.__table__


def own_execution(user: User, execution_id: str) -> Execution:
    execution = db.session.get(Execution, execution_id) if isinstance(execution_id, str) else None
    if execution is None or execution.user_id != user.id:
        raise NotFound(f"No execution '{execution_id}'")
    return execution


def retries_of(execution_ids: list[str]) -> dict[str, Execution]:
    """Each execution's latest retry, if it was retried (a failed run then links to it)."""
    if not execution_ids:
        return {}
    query = select(Execution).where(Execution.retry_of.in_(execution_ids)).order_by(Execution.created_at)
    return {retry.retry_of: retry for retry in db.session.scalars(query)}


def child_executions(execution: Execution) -> list[Execution]:
    """The child runs of its workflow nodes, oldest first (the same user's, always)."""
    query = select(Execution).where(Execution.parent_execution_id == execution.id).order_by(Execution.created_at)
    return list(db.session.scalars(query))


def latest_test_run(user: User, workflow_id: str) -> Execution | None:
    """The user's newest test run of a workflow (the editor's Test panel shows it)."""
    query = (
        select(Execution)
        .where(Execution.user_id == user.id, Execution.workflow_id == workflow_id, Execution.trigger == Trigger.TEST)
        .order_by(Execution.created_at.desc(), Execution.id.desc())
        .limit(1)
    )
    return db.session.scalars(query).first()


# -- reading ----------------------------------------------------------------------------------


def list_executions(
    user: User,
    *,
    workflow_id: str | None = None,
    status: str | None = None,
    since=None,
    until=None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[Execution], int]:
    """The caller's executions, newest first (ids are time-ordered, so they break ties)."""
    scope = [Execution.user_id == user.id]
    if workflow_id is not None:
        scope.append(Execution.workflow_id == workflow_id)
    filters = []
    if status is not None:
        if status not in tuple(RunStatus):
            raise ValidationFailed(
                "Unknown status", [Problem("status", "invalid_value", f"one of {', '.join(RunStatus)}")]
            )
        filters.append(Execution.status == status)
    if since is not None:
        filters.append(Execution.created_at >= since)
    if until is not None:
        filters.append(Execution.created_at < until)
    counted = select(func.count()).select_from(Execution).where(*scope, *filters)
    total = db.session.scalar(counted) if filters else _started(user, workflow_id)
    rows = db.session.scalars(
        select(Execution)
        .where(*scope, *filters)
        .order_by(Execution.created_at.desc(), Execution.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


def _started(user: User, workflow_id: str | None) -> int:
    """Executions the user started (of one workflow, or of all), from the counters."""
    query = select(func.coalesce(func.sum(_counts.c.count), 0)).where(_counts.c.user_id == user.id)
    if workflow_id is not None:
        query = query.where(_counts.c.workflow_id == workflow_id)
    return db.session.scalar(query)


def usage_report(user: User, *, days: int = 30, workflow_id: str | None = None) -> dict:
    """Tokens and cost per day and per workflow, for the last ``days`` days: every
    execution's totals (each the sum of its nodes), and what the judges of the user's test
    runs spent (counted on the day they judged; they are no executions)."""
    today = utcnow().date()
    since = today - timedelta(days=days - 1)
    spend = _spending(user, since, workflow_id)
    sums = (
        func.coalesce(func.sum(spend.c.runs), 0),
        *(func.coalesce(func.sum(spend.c[key]), 0) for key in ("prompt_tokens", "completion_tokens", "total_tokens")),
        func.coalesce(func.sum(spend.c.cost_usd), 0.0),
    )
    day = func.date(spend.c.at)
    by_day = {str(row[0]): _usage_entry(row[1:]) for row in db.session.execute(select(day, *sums).group_by(day))}
    by_workflow = db.session.execute(
        select(spend.c.workflow_id, Workflow.name, *sums)
        .join(Workflow, Workflow.id == spend.c.workflow_id)
        .group_by(spend.c.workflow_id, Workflow.name)
        .order_by(func.sum(spend.c.cost_usd).desc())
    ).all()
    dates = [(since + timedelta(days=n)).isoformat() for n in range(days)]
    return {
        "days": days,
        "since": since.isoformat(),
        "workflow_id": workflow_id,
        "totals": _usage_entry(db.session.execute(select(*sums)).one()),
        "by_day": [{"date": d, **by_day.get(d, _usage_entry((0, 0, 0, 0, 0.0)))} for d in dates],
        "by_workflow": [{"workflow_id": row[0], "name": row[1], **_usage_entry(row[2:])} for row in by_workflow],
    }


def _spending(user: User, since, workflow_id: str | None):
    """One row per spending: each top-level execution (a workflow node's child run is in its
    parent's totals already) and each judged test case, as (runs, workflow, when, tokens, cost)."""
    spent = ("prompt_tokens", "completion_tokens", "total_tokens", "cost_usd")
    runs = select(
        literal(1).label("runs"),
        Execution.workflow_id.label("workflow_id"),
        Execution.created_at.label("at"),
        *(getattr(Execution, key).label(key) for key in spent),
    ).where(Execution.user_id == user.id, Execution.created_at >= since, Execution.parent_execution_id.is_(None))
    judges = (
        select(
            literal(0).label("runs"),
            TestRun.workflow_id.label("workflow_id"),
            TestRunCase.scored_at.label("at"),
            *(getattr(TestRunCase, key).label(key) for key in spent),
        )
        .join(TestRun, TestRun.id == TestRunCase.test_run_id)
        .where(
            TestRun.user_id == user.id,
            TestRunCase.scored_at >= since,
            or_(TestRunCase.total_tokens > 0, TestRunCase.cost_usd > 0),
        )
    )
    if workflow_id:
        runs = runs.where(Execution.workflow_id == workflow_id)
        judges = judges.where(TestRun.workflow_id == workflow_id)
    return union_all(runs, judges).subquery()


def _usage_entry(row) -> dict:
    executions, prompt, completion, total, cost = row
    return {
        "executions": int(executions),
        "prompt_tokens": int(prompt),
        "completion_tokens": int(completion),
        "total_tokens": int(total),
        "cost_usd": round(float(cost), 10),
    }
