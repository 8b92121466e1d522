"""A workflow's test cases (owner only: anyone else's workflow has none to show, 404)."""

from __future__ import annotations

from sqlalchemy import func, select

from ..engine.bounds import json_size
from ..engine.errors import Problem
from ..engine.status import RunStatus
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..models import TestCase, User, Workflow, utcnow
from ..models.workflow import visible_to
from ..schemas.checks import MAX_CHECKS_PER_CASE, OUTPUT_NAME_MAX, VALUE_MAX_BYTES
from ..schemas.evaluations import CHECKS_MAX_BYTES, MAX_TEST_CASES
from ..services import audit
from ..services.definitions import refuse_oversized
from ..services.drafts import own_workflow
from ..services.executions import own_execution

NAME_FROM_EXECUTION = "From {}"


def list_cases(user: User, workflow_id: str) -> list[TestCase]:
    workflow = own_workflow(user, workflow_id)
    return cases_of(workflow.id)


def cases_of(workflow_id: str) -> list[TestCase]:
    query = select(TestCase).where(TestCase.workflow_id == workflow_id).order_by(TestCase.created_at, TestCase.id)
    return list(db.session.scalars(query))


def own_case(user: User, case_id: str) -> TestCase:
    case = db.session.get(TestCase, case_id) if isinstance(case_id, str) else None
    workflow = db.session.get(Workflow, case.workflow_id) if case is not None else None
    if workflow is None or workflow.owner_id != user.id or not visible_to(workflow, user.id):
        raise NotFound(f"No test case '{case_id}'")
    return case


def create_case(user: User, workflow_id: str, name: str, inputs: dict, checks: list[dict]) -> TestCase:
    workflow = own_workflow(user, workflow_id)
    _refuse_more_than_allowed(workflow.id)
    _refuse_oversized(inputs, checks)
    case = TestCase(workflow_id=workflow.id, name=name, inputs=inputs, checks=checks)
    db.session.add(case)
    db.session.flush()
    audit.record("test.created", user, "test", case.id, details={"workflow_id": workflow.id})
    db.session.commit()
    return case


def case_from_execution(user: User, workflow_id: str, execution_id: str, name: str | None) -> TestCase:
    """A finished execution of this workflow as a case: its inputs, and an ``equals``
    check for each output it produced (a failed run produced none: inputs only)."""
    workflow = own_workflow(user, workflow_id)
    execution = own_execution(user, execution_id)
    path = "from_execution"
    if execution.workflow_id != workflow.id:
        raise ValidationFailed(
            "The execution is not of this workflow",
            [Problem(path, "invalid_value", f"'{execution_id}' ran workflow '{execution.workflow_id}'")],
        )
    if not execution.finished:
        raise Conflict(f"Execution '{execution_id}' is still {execution.status}; add it once it has finished")
    outputs = execution.outputs if execution.status == RunStatus.COMPLETED else None
    return create_case(
        user, workflow.id, name or NAME_FROM_EXECUTION.format(execution.id), execution.inputs, _equals(outputs or {})
    )


def _equals(outputs: dict) -> list[dict]:
    """An ``equals`` check per output, within the bounds a case's checks are held to: an
    output whose name or value no check can hold gets none, and so does any past the 50th
    check or the checks' size bound."""
    checks, size = [], 0
    for name, value in outputs.items():
        if len(checks) == MAX_CHECKS_PER_CASE:
            break
        check = {"output": name, "kind": "equals", "value": value}
        weight = json_size(check)
        if (
            0 < len(name) <= OUTPUT_NAME_MAX
            and json_size(value) <= VALUE_MAX_BYTES
            and size + weight <= CHECKS_MAX_BYTES
        ):
            checks.append(check)
            size += weight
    return checks


def update_case(user: User, case_id: str, changes: dict) -> TestCase:
    case = own_case(user, case_id)
    _refuse_oversized(changes.get("inputs", case.inputs), changes.get("checks", case.checks))
    for key, value in changes.items():
        setattr(case, key, value)
    case.updated_at = utcnow()
    audit.record("test.updated", user, "test", case.id, details={"workflow_id": case.workflow_id})
    db.session.commit()
    return case


def delete_case(user: User, case_id: str) -> None:
    """Gone from the workflow; the test runs that ran it keep their copy."""
    case = own_case(user, case_id)
    audit.record("test.deleted", user, "test", case.id, details={"workflow_id": case.workflow_id})
    db.session.delete(case)
    db.session.commit()


def _refuse_oversized(inputs: dict, checks: list[dict]) -> None:
    refuse_oversized(inputs, "MAX_INPUT_BYTES", "inputs", "Inputs are too large", "inputs are")
    size = json_size(checks)
    if size > CHECKS_MAX_BYTES:
        problem = Problem(
            "checks", "invalid_value", f"the checks are {size:,} bytes as JSON; the limit is {CHECKS_MAX_BYTES:,}"
        )
        raise ValidationFailed("The checks are too large", [problem])


def _refuse_more_than_allowed(workflow_id: str) -> None:
    count = db.session.scalar(select(func.count()).select_from(TestCase).where(TestCase.workflow_id == workflow_id))
    if count >= MAX_TEST_CASES:
        raise Conflict(f"A workflow keeps at most {MAX_TEST_CASES} test cases; delete one first")
