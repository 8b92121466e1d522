"""What test runs are read by: a definition's digest, a run's tally of its cases, the
newest run of a definition (the publish gate's question)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import func, select

from ..engine.bounds import json_size
from ..engine.status import CaseStatus
from ..extensions import db
from ..models import Execution, TestRun, TestRunCase
from ..schemas.evaluations import SHOWN_OUTPUTS_MAX_BYTES
from ..services.versions import normalised

SPENT = ("prompt_tokens", "completion_tokens", "total_tokens", "cost_usd")


def digest(definition: dict) -> str:
    """The same definition always gives the same digest (key order, spacing aside)."""
    text = json.dumps(normalised(definition), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def latest_runs_of(workflow_id: str, digests: list[str]) -> dict[str, TestRun]:
    """The newest test run of each definition digest (the publish gate's question)."""
    found: dict[str, TestRun] = {}
    query = (
        select(TestRun)
        .where(TestRun.workflow_id == workflow_id, TestRun.definition_digest.in_(digests))
        .order_by(TestRun.created_at.desc(), TestRun.id.desc())
    )
    for run in db.session.scalars(query):
        found.setdefault(run.definition_digest, run)
    return found


@dataclass(frozen=True)
class Tally:
    """A test run's cases counted by status, and what they spent (executions and judges)."""

    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def scored(self) -> int:
        return self.passed + self.failed + self.errors

    @property
    def pass_rate(self) -> float | None:
        return round(self.passed / self.scored, 4) if self.scored else None

    @property
    def all_passed(self) -> bool:
        return self.total > 0 and self.passed == self.total


def tallies(test_run_ids: list[str]) -> dict[str, Tally]:
    """Each test run's ``Tally``, in one query for a page of them."""
    if not test_run_ids:
        return {}
    spent = [
        func.sum(func.coalesce(getattr(Execution, key), 0) + getattr(TestRunCase, key)).label(key) for key in SPENT
    ]
    rows = db.session.execute(
        select(TestRunCase.test_run_id, TestRunCase.status, func.count().label("count"), *spent)
        .outerjoin(Execution, Execution.id == TestRunCase.execution_id)
        .where(TestRunCase.test_run_id.in_(test_run_ids))
        .group_by(TestRunCase.test_run_id, TestRunCase.status)
    ).all()
    found: dict[str, dict] = {}
    for row in rows:
        tally = found.setdefault(row.test_run_id, {"total": 0, "passed": 0, "failed": 0, "errors": 0})
        tally["total"] += row.count
        key = {CaseStatus.PASSED: "passed", CaseStatus.FAILED: "failed", CaseStatus.ERROR: "errors"}.get(row.status)
        if key is not None:
            tally[key] += row.count
        for name in SPENT:
            tally[name] = tally.get(name, 0) + (getattr(row, name) or 0)
    return {run_id: Tally(**values) for run_id, values in found.items()}


def test_run_of(execution_id: str) -> str | None:
    """The test run an execution ran a case for (its page links back to it), or None."""
    return db.session.scalar(select(TestRunCase.test_run_id).where(TestRunCase.execution_id == execution_id))


def shown_outputs(execution: Execution | None) -> dict | None:
    """A case's outputs as a test run's answer shows them: left out past 64 KB (its execution has them)."""
    outputs = execution.outputs if execution is not None else None
    return outputs if outputs is None or json_size(outputs) <= SHOWN_OUTPUTS_MAX_BYTES else None
