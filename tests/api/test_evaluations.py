"""Evaluations over the API (docs/api.md, "Evaluations"): test cases, test runs of the draft
and of a version scored case by case, the publish gate, cancel, and a test run inside the
owner's fair share — in local mode and in queue mode (a real RQ worker)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.test_drafts import broken, lowercase_echo
from tests.api.test_executions import create
from tests.definitions import model_definition
from tests.waiting import eventually, finished

CASE_FIELDS = {"id", "workflow_id", "name", "inputs", "checks", "created_at", "updated_at"}
RUN_FIELDS = {
    "id", "workflow_id", "version", "status", "created_at", "finished_at", "cases_total", "passed", "failed",
    "errors", "pass_rate", "duration_ms", "usage", "cases",
}  # fmt: skip


@pytest.fixture
def app(mode_app):
    return mode_app


def add_case(api, workflow_id: str, text: str, expected: str, name: str = "case") -> dict:
    body = {
        "name": name,
        "inputs": {"text": text},
        "checks": [{"output": "result", "kind": "equals", "value": expected}],
    }
    made = api.post(f"/workflows/{workflow_id}/tests", json=body)
    assert made.status_code == 201, made.json
    return made.json


def scored(api, test_run_id: str, timeout: float = 30.0) -> dict:
    """The test run once it has ended."""
    return eventually(
        lambda: api.get(f"/test-runs/{test_run_id}").json,
        until=lambda run: run["status"] != "running",
        timeout=timeout,
        what=f"test run {test_run_id} to end",
    )


def start(api, workflow_id: str, **body) -> dict:
    started = api.post(f"/workflows/{workflow_id}/test-runs", json=body)
    assert started.status_code == 202, started.json
    return started.json


def test_cases_are_kept_changed_and_deleted_by_the_owner_only(api, other_api):
    workflow_id = create(api, public=True)
    case = add_case(api, workflow_id, "hi", "HI", name="Greets")
    assert set(case) == CASE_FIELDS and case["id"].startswith("tc_") and case["workflow_id"] == workflow_id
    assert api.get(f"/workflows/{workflow_id}/tests").json["tests"] == [case]
    changed = api.put(f"/tests/{case['id']}", json={"name": "Greets loudly"})
    assert changed.status_code == 200 and changed.json["name"] == "Greets loudly"
    assert changed.json["checks"] == case["checks"]  # left out: kept
    for call in (
        lambda: other_api.get(f"/workflows/{workflow_id}/tests"),
        lambda: other_api.post(f"/workflows/{workflow_id}/tests", json={"name": "x"}),
        lambda: other_api.put(f"/tests/{case['id']}", json={"name": "mine"}),
        lambda: other_api.delete(f"/tests/{case['id']}"),
        lambda: other_api.post(f"/workflows/{workflow_id}/test-runs", json={}),
        lambda: other_api.get(f"/workflows/{workflow_id}/test-runs"),
    ):
        assert call().status_code == 404
    assert api.delete(f"/tests/{case['id']}").status_code == 204
    assert api.get(f"/workflows/{workflow_id}/tests").json["tests"] == []
    assert api.put(f"/tests/{case['id']}", json={"name": "gone"}).status_code == 404


def test_a_finished_execution_becomes_a_case_with_its_inputs_and_outputs(api):
    workflow_id = create(api)
    ran = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "tea"}}).json
    made = api.post(f"/workflows/{workflow_id}/tests", json={"from_execution": ran["id"]})
    assert made.status_code == 201, made.json
    assert made.json["inputs"] == {"text": "tea"}
    assert made.json["checks"] == [{"output": "result", "kind": "equals", "value": "TEA"}]
    other = create(api)
    wrong = api.post(f"/workflows/{other}/tests", json={"from_execution": ran["id"]})
    assert wrong.status_code == 422 and wrong.json["error"]["details"][0]["path"] == "from_execution"
    missing = api.post(f"/workflows/{workflow_id}/tests", json={"from_execution": "exec_" + "0" * 26})
    assert missing.status_code == 404


def test_a_test_run_of_the_draft_scores_every_case(api):
    workflow_id = create(api)
    api.put(f"/workflows/{workflow_id}/draft", json=lowercase_echo())
    add_case(api, workflow_id, "Hi", "hi", name="passes")
    add_case(api, workflow_id, "Hi", "HI", name="fails")
    started = start(api, workflow_id)
    assert set(started) == RUN_FIELDS and started["id"].startswith("tr_") and started["version"] == "draft"
    run = scored(api, started["id"])
    assert run["status"] == "completed" and run["finished_at"] is not None and run["duration_ms"] >= 0
    assert (run["cases_total"], run["passed"], run["failed"], run["errors"]) == (2, 1, 1, 0)
    assert run["pass_rate"] == 0.5
    passes, fails = run["cases"]
    assert passes["status"] == "passed" and passes["outputs"] == {"result": "hi"}
    assert fails["status"] == "failed" and fails["checks"][0]["passed"] is False and fails["checks"][0]["detail"]
    execution = api.get(f"/executions/{passes['execution_id']}").json
    assert execution["trigger"] == "test" and execution["workflow_version"] == 1
    assert api.get(f"/workflows/{workflow_id}").json["usage_count"] == 0
    listed = api.get(f"/workflows/{workflow_id}/test-runs").json
    assert listed["total"] == 1 and "cases" not in listed["test_runs"][0]
    assert listed["test_runs"][0]["passed"] == 1


def test_a_test_run_of_a_version_runs_that_version(api):
    workflow_id = create(api)
    api.patch(f"/workflows/{workflow_id}", json=lowercase_echo())  # version 2
    add_case(api, workflow_id, "Hi", "HI")
    run = scored(api, start(api, workflow_id, version=1)["id"])
    assert run["version"] == 1 and run["passed"] == 1
    assert api.post(f"/workflows/{workflow_id}/test-runs", json={"version": 7}).status_code == 404


def test_what_cannot_run_is_refused_or_an_error(api):
    workflow_id = create(api)
    none_yet = api.post(f"/workflows/{workflow_id}/test-runs", json={})
    assert none_yet.status_code == 409 and none_yet.json["error"]["code"] == "no_tests"
    api.post(f"/workflows/{workflow_id}/tests", json={"name": "wrong inputs", "inputs": {"nope": 1}})
    add_case(api, workflow_id, "ok", "OK")
    run = scored(api, start(api, workflow_id)["id"])
    wrong, right = run["cases"]
    assert wrong["status"] == "error" and wrong["execution_id"] is None and "not started" in wrong["detail"]
    assert right["status"] == "passed" and run["errors"] == 1 and run["pass_rate"] == 0.5
    api.put(f"/workflows/{workflow_id}/draft", json=broken())
    refused = api.post(f"/workflows/{workflow_id}/test-runs", json={"version": "draft"})
    assert refused.status_code == 422


def test_a_failed_execution_makes_its_case_an_error(api, model):
    workflow_id = create(api, model_definition(cache=False))
    api.post(f"/workflows/{workflow_id}/tests", json={"name": "down", "inputs": {"text": "[[status=500]] hi"}})
    run = scored(api, start(api, workflow_id)["id"])
    case = run["cases"][0]
    assert case["status"] == "error" and case["detail"].startswith("its execution failed")


def test_publishing_can_require_a_passing_test_run_of_the_exact_draft(api):
    workflow_id = create(api)
    assert api.patch(f"/workflows/{workflow_id}", json={"require_passing_tests": True}).json["require_passing_tests"]
    add_case(api, workflow_id, "Hi", "hi")
    api.put(f"/workflows/{workflow_id}/draft", json=lowercase_echo())
    untested = api.post(f"/workflows/{workflow_id}/publish", json={})
    assert untested.status_code == 409 and untested.json["error"]["code"] == "tests_failed"
    assert scored(api, start(api, workflow_id)["id"])["passed"] == 1
    published = api.post(f"/workflows/{workflow_id}/publish", json={"note": "tested"})
    assert published.status_code == 200 and published.json["version"] == 2
    changed = lowercase_echo()
    changed["nodes"][2]["config"]["fields"]["result"] = "{{ shout.value }}!"
    api.put(f"/workflows/{workflow_id}/draft", json=changed)  # changed since its test run
    again = api.post(f"/workflows/{workflow_id}/publish", json={})
    assert again.status_code == 409 and again.json["error"]["code"] == "tests_failed"
    assert scored(api, start(api, workflow_id)["id"])["failed"] == 1  # "hi!": the case fails
    failing = api.post(f"/workflows/{workflow_id}/publish", json={})
    assert failing.status_code == 409 and "passed 0 of 1" in failing.json["error"]["message"]
    direct = api.put(f"/workflows/{workflow_id}", json=changed)  # the old way to publish is held too
    assert direct.status_code == 409 and direct.json["error"]["code"] == "tests_failed"
    assert api.get(f"/workflows/{workflow_id}").json["version"] == 2


def test_cancel_ends_the_test_run_and_its_executions(api, model):
    workflow_id = create(api, model_definition(cache=False))
    for i in range(3):
        api.post(f"/workflows/{workflow_id}/tests", json={"name": f"slow {i}", "inputs": {"text": f"[[hang]] {i}"}})
    started = start(api, workflow_id)
    cancelled = api.post(f"/test-runs/{started['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json["status"] == "cancelled"
    assert {case["status"] for case in cancelled.json["cases"]} == {"error"}
    for case in cancelled.json["cases"]:
        assert finished(api, case["execution_id"])["status"] == "cancelled"
    assert api.post(f"/test-runs/{started['id']}/cancel").status_code == 409


def test_cases_run_inside_the_owners_fair_share(api, model, app):
    workflow_id = create(api, model_definition(cache=False))
    for i in range(20):
        text = f"[[latency=0.3]][[reply=ok]] {i}"
        api.post(f"/workflows/{workflow_id}/tests", json={"name": f"c{i}", "inputs": {"text": text}})
    run = scored(api, start(api, workflow_id)["id"], timeout=120)
    assert run["passed"] == 20
    spans = []
    for case in run["cases"]:
        execution = api.get(f"/executions/{case['execution_id']}").json
        spans.append((execution["started_at"], execution["finished_at"]))
    most = max(sum(1 for s, f in spans if s <= moment < f) for moment, _ in spans)
    assert 1 < most <= app.config["MAX_RUNNING_PER_USER"]


VERDICT = '{"pass": true, "reason": "It greets."}'
EVERY_KIND_PASSING = [
    {"output": "result", "kind": "equals", "value": "HELLO"},
    {"output": "result", "kind": "contains", "value": "ELL"},
    {"output": "result", "kind": "not_contains", "value": "bye"},
    {"output": "result", "kind": "matches", "pattern": "^H[A-Z]+O$"},
    {"output": "result", "kind": "json_schema", "schema": {"type": "string", "minLength": 5}},
    {"output": "size", "kind": "between", "min": 1, "max": 5},
    {"output": "result", "kind": "max_length", "value": 5},
    {"output": "result", "kind": "judge", "criteria": "Greets the reader."},
]
EVERY_KIND_FAILING = [
    {"output": "result", "kind": "equals", "value": "hello"},
    {"output": "result", "kind": "contains", "value": "bye"},
    {"output": "result", "kind": "not_contains", "value": "ELL"},
    {"output": "result", "kind": "matches", "pattern": "^[0-9]+$"},
    {"output": "result", "kind": "json_schema", "schema": {"type": "number"}},
    {"output": "size", "kind": "between", "max": 4},
    {"output": "result", "kind": "max_length", "value": 3},
    {"output": "result", "kind": "judge", "criteria": "Says goodbye."},
]


def sized_echo() -> dict:
    """``echo_definition`` with a second output: the text's length."""
    definition = lowercase_echo()
    definition["nodes"][1]["config"]["operation"] = "uppercase"
    definition["nodes"][2]["config"]["fields"]["size"] = "{{ in.text | length }}"
    return definition


def test_every_check_kind_passes_and_fails_saying_why_and_judges_are_counted(api, model):
    model.reply_when("Greets the reader.", VERDICT)
    model.reply_when("Says goodbye.", '{"pass": false, "reason": "It never says goodbye."}')
    workflow_id = create(api, sized_echo())
    for name, checks in (("passes", EVERY_KIND_PASSING), ("fails", EVERY_KIND_FAILING)):
        made = api.post(
            f"/workflows/{workflow_id}/tests", json={"name": name, "inputs": {"text": "hello"}, "checks": checks}
        )
        assert made.status_code == 201, made.json
    run = scored(api, start(api, workflow_id)["id"])
    passes, fails = run["cases"]
    assert passes["status"] == "passed" and fails["status"] == "failed", (passes, fails)
    assert [c["kind"] for c in passes["checks"]] == [c["kind"] for c in EVERY_KIND_PASSING]
    assert all(c["passed"] and c["detail"] for c in passes["checks"])
    assert not any(c["passed"] for c in fails["checks"]) and all(c["detail"] for c in fails["checks"])
    assert fails["checks"][-1]["detail"] == "It never says goodbye."
    assert passes["usage"]["total_tokens"] > 0 and run["usage"]["total_tokens"] == (
        passes["usage"]["total_tokens"] + fails["usage"]["total_tokens"]
    )  # the echo spends nothing: what is counted is the judges'
    report = api.get("/usage", query_string={"workflow_id": workflow_id}).json
    assert report["totals"]["executions"] == 2 and report["totals"]["total_tokens"] == run["usage"]["total_tokens"]


def test_a_case_with_bad_checks_is_refused_with_each_problem(api):
    workflow_id = create(api)
    bad = [
        {"output": "result", "kind": "matches", "pattern": "(?:(?:a{100}){100}){300}"},
        {"output": "result", "kind": "between", "min": 5, "max": 1},
        {"output": "result", "kind": "nearly"},
    ]
    refused = api.post(f"/workflows/{workflow_id}/tests", json={"name": "bad", "checks": bad})
    assert refused.status_code == 422
    paths = {problem["path"] for problem in refused.json["error"]["details"]}
    assert {"checks[0].pattern", "checks[1]", "checks[2].kind"} <= paths, paths


def test_a_case_left_unscored_is_scored_by_the_reapers_sweep_once_its_scorer_is_gone(api, app):
    from sqlalchemy import update

    from webapp.evaluations.scoring import sweep
    from webapp.extensions import db
    from webapp.models import Execution, TestRun, TestRunCase, utcnow

    workflow_id = create(api)
    add_case(api, workflow_id, "hi", "HI")
    run = scored(api, start(api, workflow_id)["id"])
    (case,) = run["cases"]
    long_ago = utcnow() - timedelta(seconds=app.config["WORKER_LOST_AFTER"] + 1)
    with app.app_context():  # as if its scorer died after the run: taken a moment ago, not scored
        db.session.execute(update(TestRun).where(TestRun.id == run["id"]).values(status="running", finished_at=None))
        db.session.execute(update(Execution).where(Execution.id == case["execution_id"]).values(finished_at=long_ago))
        unscored = {"status": "pending", "results": None, "scored_at": None, "scoring_since": utcnow()}
        db.session.execute(update(TestRunCase).where(TestRunCase.test_run_id == run["id"]).values(**unscored))
        db.session.commit()
        assert sweep(app) == 0, "its scorer may still be at it"
        lease = app.config["EXECUTION_TIMEOUT"] + app.config["WORKER_LOST_AFTER"] + 1
        expired = {"scoring_since": utcnow() - timedelta(seconds=lease)}
        db.session.execute(update(TestRunCase).where(TestRunCase.test_run_id == run["id"]).values(**expired))
        db.session.commit()
        assert sweep(app) == 1  # handed to a scorer thread (a judge may take long: not in the reaper's pass)
    again = scored(api, run["id"])
    assert again["status"] == "completed" and again["cases"][0]["status"] == "passed"


def test_a_case_whose_execution_is_cancelled_on_its_own_is_an_error(api, model):
    workflow_id = create(api, model_definition(cache=False))
    api.post(f"/workflows/{workflow_id}/tests", json={"name": "hangs", "inputs": {"text": "[[hang]] x"}})
    started = start(api, workflow_id)
    execution_id = started["cases"][0]["execution_id"]
    assert api.post(f"/executions/{execution_id}/cancel").status_code == 202
    run = scored(api, started["id"], timeout=60)
    assert run["status"] == "completed" and run["cases"][0]["status"] == "error"
    assert run["cases"][0]["detail"].startswith("its execution cancelled")


def judged_case(api, workflow_id: str, criteria: str) -> None:
    check = {"output": "result", "kind": "judge", "criteria": criteria}
    made = api.post(
        f"/workflows/{workflow_id}/tests", json={"name": "judged", "inputs": {"text": "hi"}, "checks": [check]}
    )
    assert made.status_code == 201, made.json


def test_a_judge_answering_past_the_parsers_depth_gives_an_error_not_a_case_left_pending(api, model):
    model.reply_when("Deeply nested.", "[" * 200_000)
    workflow_id = create(api)
    judged_case(api, workflow_id, "Deeply nested.")
    run = scored(api, start(api, workflow_id)["id"])
    (case,) = run["cases"]
    assert run["status"] == "completed" and case["status"] == "error" and case["checks"][0]["detail"]
    assert case["usage"]["total_tokens"] > 0  # what the judge spent is counted all the same


def test_a_judge_still_answering_when_its_test_run_is_cancelled_is_counted(api, model):
    model.reply_when("Slowly judged.", VERDICT)
    workflow_id = create(api)
    judged_case(api, workflow_id, "Slowly judged. [[latency=1.5]]")
    started = start(api, workflow_id)
    eventually(lambda: any("Slowly judged." in str(call["body"]) for call in model.calls), what="the judge's call")
    cancelled = api.post(f"/test-runs/{started['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json["cases"][0]["status"] == "error"
    counted = eventually(
        lambda: api.get(f"/test-runs/{started['id']}").json,
        until=lambda run: run["usage"]["total_tokens"] > 0,
        what="the late judge's spending",
    )
    assert counted["status"] == "cancelled" and counted["cases"][0]["status"] == "error"


def test_a_judge_waiting_for_its_model_holds_up_no_other_run(api, model, other_api):
    model.reply_when("Judged at length.", VERDICT)
    workflow_id = create(api)
    judged_case(api, workflow_id, "Judged at length. [[latency=3]]")
    started = start(api, workflow_id)
    eventually(lambda: any("Judged at length." in str(call["body"]) for call in model.calls), what="the judge's call")
    theirs = create(other_api)
    ran = other_api.post(f"/workflows/{theirs}/execute", json={"inputs": {"text": "quick"}})
    assert ran.status_code == 200 and ran.json["status"] == "completed"
    assert api.get(f"/test-runs/{started['id']}").json["status"] == "running"  # the judge is still at it
    assert scored(api, started["id"])["passed"] == 1


def test_a_case_from_an_execution_keeps_to_the_bounds_of_a_case(api):
    definition = lowercase_echo()
    fields = {f"{'o' * 70}{i}": "{{ shout.value }}" for i in range(3)} | {
        f"out{i}": "{{ shout.value }}" for i in range(60)
    }
    definition["nodes"][2]["config"]["fields"] = fields
    workflow_id = create(api, definition)
    ran = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "hi"}}).json
    made = api.post(f"/workflows/{workflow_id}/tests", json={"from_execution": ran["id"]})
    assert made.status_code == 201, made.json
    checks = made.json["checks"]
    assert len(checks) == 50 and all(len(check["output"]) <= 64 for check in checks)
    assert api.put(f"/tests/{made.json['id']}", json={"checks": checks}).status_code == 200  # as a client may send it


def test_the_gate_cannot_be_lifted_by_the_body_that_publishes(api):
    workflow_id = create(api)
    api.patch(f"/workflows/{workflow_id}", json={"require_passing_tests": True})
    refused = api.put(f"/workflows/{workflow_id}", json={"require_passing_tests": False, **lowercase_echo()})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "tests_failed"
    assert api.get(f"/workflows/{workflow_id}").json["require_passing_tests"] is True


def test_a_case_left_unstarted_by_a_stopped_start_is_settled_by_the_sweep(api, app):
    from sqlalchemy import update

    from webapp.evaluations.scoring import sweep
    from webapp.extensions import db
    from webapp.models import TestRun, TestRunCase, utcnow

    workflow_id = create(api)
    add_case(api, workflow_id, "hi", "HI")
    run = scored(api, start(api, workflow_id)["id"])
    long_ago = utcnow() - timedelta(seconds=app.config["WORKER_LOST_AFTER"] + 1)
    with app.app_context():  # as if the request starting its cases died before this one
        db.session.execute(
            update(TestRun)
            .where(TestRun.id == run["id"])
            .values(status="running", finished_at=None, created_at=long_ago)
        )
        unstarted = {
            "status": "pending",
            "execution_id": None,
            "results": None,
            "scored_at": None,
            "scoring_since": None,
        }
        db.session.execute(update(TestRunCase).where(TestRunCase.test_run_id == run["id"]).values(**unstarted))
        db.session.commit()
        assert sweep(app) == 1
    again = api.get(f"/test-runs/{run['id']}").json
    assert again["status"] == "completed" and again["cases"][0]["status"] == "error"
    assert again["cases"][0]["detail"].startswith("not started")
