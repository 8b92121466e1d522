"""/api/v1 evaluations: a workflow's test cases and the test runs that score them (owner
only: anyone else gets 404 on every path)."""

from __future__ import annotations

from flask import g
from sqlalchemy import select

from ..evaluations import cases as case_service
from ..evaluations import runs as run_service
from ..evaluations.records import Tally, tallies
from ..extensions import db
from ..models import Execution
from ..schemas import evaluations as schema
from ..schemas.checks import stored
from ..services.drafts import own_workflow
from . import bp
from .contract import Refusal, operation
from .params import paginated
from .refusals import DEFINITION
from .serializers import test_case, test_run, test_run_summary

TEST_CASE = (schema.TestCase, "The test case.")
TEST_RUN = (schema.TestRun, "The test run, case by case.")
CASE_REFUSALS = (
    Refusal(
        "invalid_value",
        "inputs past MAX_INPUT_BYTES; a check's pattern that is not valid or past the pattern bounds; a "
        "json_schema that is not a valid JSON Schema (or names an unknown $schema, or holds such a pattern); an "
        "equals value or a schema over 64 KB as JSON; a between check whose min is over its max",
    ),
    Refusal("invalid_value", "from_execution names an execution of another workflow"),
)


def _own_workflow(workflow_id: str, **_: object) -> None:
    own_workflow(g.user, workflow_id)


def _own_case(test_id: str, **_: object) -> None:
    case_service.own_case(g.user, test_id)


def _own_run(test_run_id: str, **_: object) -> None:
    run_service.own_test_run(g.user, test_run_id)


@bp.post("/workflows/<wf:workflow_id>/tests")
@operation(
    "createTestCase",
    "Add a test case to a workflow (owner only)",
    tag="evaluations",
    errors=(404, 409),
    before=_own_workflow,
    body=schema.TestCaseRequest,
    example={
        "name": "Short product",
        "inputs": {"product": "a red bicycle"},
        "checks": [{"output": "copy", "kind": "contains", "value": "bicycle"}],
    },
    refusals=CASE_REFUSALS,
    description='Or `{"from_execution": "exec_…"}`: a finished execution of this workflow as a case (its '
    "inputs, and an `equals` check per output it produced; 409 while it still runs). 409 too once the "
    f"workflow holds {schema.MAX_TEST_CASES} cases.",
    answers={201: TEST_CASE},
)
def create_test_case(workflow_id: str, body):
    if isinstance(body, schema.TestCaseFromExecution):
        made = case_service.case_from_execution(g.user, workflow_id, body.from_execution, body.name)
    else:
        checks = [stored(check) for check in body.checks]
        made = case_service.create_case(g.user, workflow_id, body.name, body.inputs, checks)
    return test_case(made), 201


@bp.get("/workflows/<wf:workflow_id>/tests")
@operation(
    "listTestCases",
    "List a workflow's test cases (owner only)",
    tag="evaluations",
    errors=(404,),
    answers={200: (schema.TestCaseList, "Oldest first.")},
)
def list_test_cases(workflow_id: str):
    return {"tests": [test_case(row) for row in case_service.list_cases(g.user, workflow_id)]}


@bp.put("/tests/<test_id>")
@operation(
    "updateTestCase",
    "Change a test case",
    tag="evaluations",
    errors=(404,),
    before=_own_case,
    body=schema.TestCaseUpdate,
    example={"checks": [{"output": "copy", "kind": "max_length", "value": 200}]},
    refusals=CASE_REFUSALS[:1],
    description="Fields left out keep their values. Test runs that ran it keep the checks they ran.",
    answers={200: TEST_CASE},
)
def update_test_case(test_id: str, body: schema.TestCaseUpdate):
    changes = body.given()
    if "checks" in changes:
        changes["checks"] = [stored(check) for check in body.checks]
    return test_case(case_service.update_case(g.user, test_id, changes))


@bp.delete("/tests/<test_id>")
@operation(
    "deleteTestCase",
    "Delete a test case",
    tag="evaluations",
    errors=(404,),
    answers={204: (None, "Deleted; test runs that ran it keep their copy.")},
)
def delete_test_case(test_id: str):
    case_service.delete_case(g.user, test_id)
    return "", 204


@bp.post("/workflows/<wf:workflow_id>/test-runs")
@operation(
    "startTestRun",
    "Run every test case against the draft or a version",
    tag="evaluations",
    errors=(404, 409),
    before=_own_workflow,
    body=schema.TestRunRequest,
    body_required=False,
    example={"version": "draft"},
    refusals=DEFINITION,
    description='Each case is a real execution (`trigger: "test"`) inside the caller\'s fair share, limits '
    "and budgets; a case that cannot start is an `error` saying why. 422: the draft has problems (listed). "
    "404: no such version. 409 `no_tests`: the workflow has no cases.",
    answers={202: TEST_RUN},
)
def start_test_run(workflow_id: str, body: schema.TestRunRequest | None):
    version = body.version if body is not None else schema.DRAFT
    run = run_service.start_test_run(g.user, workflow_id, version)
    return _answer(run), 202


@bp.get("/workflows/<wf:workflow_id>/test-runs")
@operation(
    "listTestRuns",
    "List a workflow's test runs",
    tag="evaluations",
    errors=(404,),
    before=_own_workflow,
    query=schema.TestRunListQuery,
    answers={200: (schema.TestRunList, "Newest first, without their cases.")},
)
def list_test_runs(workflow_id: str, query: schema.TestRunListQuery):
    rows, total = run_service.list_test_runs(g.user, workflow_id, limit=query.limit, offset=query.offset)
    counted = tallies([row.id for row in rows])
    items = [test_run_summary(row, counted.get(row.id, Tally())) for row in rows]
    return paginated("test_runs", items, total, query.offset)


@bp.get("/test-runs/<test_run_id>")
@operation("getTestRun", "Get a test run, case by case", tag="evaluations", errors=(404,), answers={200: TEST_RUN})
def get_test_run(test_run_id: str):
    return _answer(run_service.own_test_run(g.user, test_run_id))


@bp.post("/test-runs/<test_run_id>/cancel")
@operation(
    "cancelTestRun",
    "Cancel a test run",
    tag="evaluations",
    errors=(404, 409),
    before=_own_run,
    description="Its cases' executions are cancelled; a case not scored yet is an `error`. 409: it already ended.",
    answers={202: TEST_RUN},
)
def cancel_test_run(test_run_id: str):
    return _answer(run_service.cancel_test_run(g.user, test_run_id)), 202


def _answer(run) -> dict:
    ids = [row.execution_id for row in run.cases if row.execution_id is not None]
    executions = {e.id: e for e in db.session.scalars(select(Execution).where(Execution.id.in_(ids)))} if ids else {}
    return test_run(run, tallies([run.id]).get(run.id, Tally()), executions)
