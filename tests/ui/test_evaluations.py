"""Evaluations in the browser UI: the Tests tab (cases, checks added by kind, run all, the
recent runs and the publish gate), Add to tests on an execution page, a test run's page
(expected beside actual) and two test runs compared — owner only, forms with their
problems beside the fields, and no 500 for any post."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from tests.api.test_drafts import broken, lowercase_echo
from tests.definitions import echo_definition
from tests.ui.conftest import create_workflow, in_app, run_and_wait
from tests.ui.forms import form_fields
from tests.ui.test_editor import editor_form
from tests.waiting import eventually
from webapp.evaluations import cases as case_service
from webapp.schemas.checks import KINDS
from webapp.services import drafts


def add_case(app, user, workflow_id: str, text: str, expected: str, name: str = "case") -> str:
    checks = [{"output": "result", "kind": "equals", "value": expected}]
    return in_app(
        app, lambda u: case_service.create_case(u, workflow_id, name, {"text": text}, checks).id, user_id=user.id
    )


def ended(page, test_run_id: str) -> str:
    """The test run's page once the run has ended."""
    return eventually(
        lambda: page.get(f"/test-runs/{test_run_id}").text,
        until=lambda text: 'data-status="running"' not in text,
        timeout=30,
        what=f"test run {test_run_id} to end",
    )


def run_tests(page, workflow_id: str, version: str = "draft") -> str:
    answer = page.post(f"/workflows/{workflow_id}/test-runs", {"version": version})
    assert answer.status_code == 303, answer.text
    match = re.search(r"/test-runs/(tr_\w+)$", answer.headers["Location"])
    assert match, answer.headers["Location"]
    return match.group(1)


def test_the_tests_tab_is_the_owners_only(page, other_page, app, alice):
    workflow_id = create_workflow(app, alice, echo_definition(), public=True)
    case_id = add_case(app, alice, workflow_id, "hi", "HI", name="Greets")
    tab = page.get(f"/workflows/{workflow_id}/tests")
    assert tab.status_code == 200 and "Greets" in tab.text and "Run all tests" in tab.text
    assert f'href="/workflows/{workflow_id}/tests"' in page.get(f"/workflows/{workflow_id}").text  # the tab
    assert 'id="tests-tab"' not in other_page.get(f"/workflows/{workflow_id}").text  # a reader has no tabs
    for path in (f"/workflows/{workflow_id}/tests", f"/tests/{case_id}", f"/tests/{case_id}/check-fields"):
        assert other_page.get(path).status_code == 404, path
    for path, data in (
        (f"/workflows/{workflow_id}/tests", {"name": "mine"}),
        (f"/workflows/{workflow_id}/tests/gate", {"require_passing_tests": "true"}),
        (f"/workflows/{workflow_id}/test-runs", {}),
        (f"/tests/{case_id}", {"name": "mine"}),
        (f"/tests/{case_id}/delete", {}),
        (f"/tests/{case_id}/checks", {"kind": "contains", "check.output": "x", "check.value": "y"}),
        (f"/tests/{case_id}/checks/0/delete", {}),
    ):
        assert other_page.post(path, data).status_code == 404, path
    assert "Greets" in page.get(f"/tests/{case_id}").text  # untouched


def test_a_case_is_added_with_the_input_nodes_fields_then_its_checks_by_kind(page, app, alice):
    workflow_id = create_workflow(app, alice, echo_definition())
    fields = dict(page.form(f"/workflows/{workflow_id}/tests", "add-case-form"))
    assert "inputs.text" in fields and "other_inputs" in fields
    refused = page.post(f"/workflows/{workflow_id}/tests", {"name": "", "inputs.text": "hi", "other_inputs": "[1"})
    assert refused.status_code == 422
    assert 'id="pb-name">Give the case a name.' in refused.text and "is not valid JSON" in refused.text
    made = page.post(f"/workflows/{workflow_id}/tests", {"name": "Shouts", "inputs.text": "hi", "other_inputs": ""})
    assert made.status_code == 303 and "/tests/tc_" in made.headers["Location"], fields
    case_id = made.headers["Location"].split("/tests/")[1].split("#")[0].split("?")[0]
    case_page = page.get(f"/tests/{case_id}")
    for kind, (label, _help) in KINDS.items():  # every kind, named as the schema names it
        assert f'<option value="{kind}"' in case_page.text and label in case_page.text
    assert "<code>result</code>" in case_page.text  # the draft's outputs, offered for "output"
    judge = page.get(f"/tests/{case_id}/check-fields?kind=judge", headers={"HX-Request": "true"}).text
    assert 'name="check.criteria"' in judge and 'name="check.value"' not in judge
    bad = page.post(f"/tests/{case_id}/checks", {"kind": "contains", "check.output": "", "check.value": ""})
    assert bad.status_code == 422 and re.search(r'id="pb-check-output">[^<]*required', bad.text)
    assert page.post(f"/tests/{case_id}/checks", {"kind": "between", "check.output": "result"}).status_code == 422
    added = page.post(f"/tests/{case_id}/checks", {"kind": "contains", "check.output": "result", "check.value": "H"})
    assert added.status_code == 303
    case = in_app(app, lambda u: case_service.own_case(u, case_id), user_id=alice.id)
    assert case.inputs == {"text": "hi"} and case.checks == [{"output": "result", "kind": "contains", "value": "H"}]
    second = {"kind": "contains", "check.output": "result", "check.value": "I"}
    assert page.post(f"/tests/{case_id}/checks", second).status_code == 303
    first = re.search(r'name="fingerprint" value="(\w+)"', page.get(f"/tests/{case_id}").text).group(1)
    remove = {"fingerprint": first}  # what the first check's Remove button posts
    for _ in range(2):  # a double click: the second finds the other check in its place, and keeps it
        assert page.post(f"/tests/{case_id}/checks/0/delete", remove).status_code == 303
    kept = in_app(app, lambda u: case_service.own_case(u, case_id).checks, user_id=alice.id)
    assert kept == [{"output": "result", "kind": "contains", "value": "I"}]
    saved = page.post(f"/tests/{case_id}", {"name": "Shouts loud", "inputs.text": "yo", "other_inputs": '{"x": 1}'})
    assert saved.status_code == 303
    case = in_app(app, lambda u: case_service.own_case(u, case_id), user_id=alice.id)
    assert case.name == "Shouts loud" and case.inputs == {"text": "yo", "x": 1}
    assert '"x": 1' in page.get(f"/tests/{case_id}").text  # inputs no field covers stay, as JSON
    assert page.post(f"/tests/{case_id}/delete").status_code == 303
    assert page.get(f"/tests/{case_id}").status_code == 404


def test_add_to_tests_makes_a_case_from_a_finished_execution(page, other_page, app, alice):
    workflow_id = create_workflow(app, alice, echo_definition())
    execution_id = run_and_wait(app, alice, workflow_id, {"text": "tea"})
    assert 'id="add-to-tests"' in page.get(f"/executions/{execution_id}").text
    assert other_page.post(f"/executions/{execution_id}/add-to-tests").status_code == 404
    made = page.post(f"/executions/{execution_id}/add-to-tests")
    assert made.status_code == 303
    shown = page.get(made.headers["Location"]).text
    assert "TEA" in shown and "Equals" in shown
    cases = in_app(app, lambda u: case_service.list_cases(u, workflow_id), user_id=alice.id)
    assert [(c.inputs, c.checks) for c in cases] == [
        ({"text": "tea"}, [{"output": "result", "kind": "equals", "value": "TEA"}])
    ]


def test_run_all_shows_each_check_expected_beside_actual_and_two_runs_compare(page, app, alice):
    workflow_id = create_workflow(app, alice, echo_definition())
    add_case(app, alice, workflow_id, "Hi", "HI", name="passes")
    add_case(app, alice, workflow_id, "Hi", "hi", name="fails")
    first = run_tests(page, workflow_id)
    shown = ended(page, first)
    assert 'id="test-run-rate">50%' in shown and "HI" in shown
    assert shown.count("status-failed") >= 1 and "fails" in shown and "/executions/exec_" in shown
    assert "hx-trigger=" not in shown  # ended: no more polling
    execution_id = re.search(r"/executions/(exec_\w+)", shown).group(1)
    assert f'href="/test-runs/{first}"' in page.get(f"/executions/{execution_id}").text  # a case of it
    in_app(app, lambda u: drafts.save_draft(u, workflow_id, lowercase_echo()), user_id=alice.id)
    second = run_tests(page, workflow_id)
    ended(page, second)
    tab = page.get(f"/workflows/{workflow_id}/tests").text
    assert "Pass rate of the last 2 test runs" in tab and 'name="a"' in tab and 'name="b"' in tab
    assert tab.count("status-passed") >= 1 and tab.count("in the newest test run") == 2  # each case's last status
    newest = page.get(f"/workflows/{workflow_id}/test-runs/compare")  # left out: the two newest
    assert newest.status_code == 200 and first in newest.text and second in newest.text
    compared = page.get(f"/workflows/{workflow_id}/test-runs/compare", query_string={"a": first, "b": second})
    assert compared.status_code == 200
    assert compared.text.count("badge-changed") == 2  # each case passed in one run and failed in the other
    assert "50%" in compared.text
    other = create_workflow(app, alice, echo_definition())
    wrong = page.get(f"/workflows/{other}/test-runs/compare", query_string={"a": first, "b": second})
    assert wrong.status_code == 404  # not one of this workflow's runs


def test_a_running_test_run_polls_and_can_be_cancelled(page, app, alice, model):
    from tests.definitions import model_definition

    workflow_id = create_workflow(app, alice, model_definition())
    slow = {"text": "[[latency=5]] slowly"}
    in_app(app, lambda u: case_service.create_case(u, workflow_id, "slow", slow, []), user_id=alice.id)
    run_id = run_tests(page, workflow_id)
    live = page.get(f"/test-runs/{run_id}/live", headers={"HX-Request": "true"}).text
    assert 'hx-trigger="every' in live and "Cancel" in live
    cancelled = page.post(f"/test-runs/{run_id}/cancel")
    assert cancelled.status_code == 303
    assert 'data-status="cancelled"' in page.get(f"/test-runs/{run_id}").text
    assert page.post(f"/test-runs/{run_id}/cancel").status_code == 303  # already ended: said, not a 500


def test_the_gate_shows_beside_publish_and_holds_it(page, app, alice):
    workflow_id = create_workflow(app, alice, echo_definition())
    assert 'id="gate-state"' not in page.get(f"/workflows/{workflow_id}").text
    assert page.post(f"/workflows/{workflow_id}/tests/gate", {"require_passing_tests": "true"}).status_code == 303
    in_app(app, lambda u: drafts.save_draft(u, workflow_id, lowercase_echo()), user_id=alice.id)
    held = page.get(f"/workflows/{workflow_id}").text
    assert re.search(r'id="gate-state"[^>]*>Publishing is held: this draft has no test run yet', held)
    form = editor_form(page, workflow_id)
    refused = page.post(f"/workflows/{workflow_id}/editor/publish", form, htmx=True)
    assert refused.status_code == 422 and "Not published. This workflow requires passing tests" in refused.text
    add_case(app, alice, workflow_id, "A", "a")
    ended(page, run_tests(page, workflow_id))
    assert re.search(r'id="gate-state"[^>]*>Tests passed', page.get(f"/workflows/{workflow_id}").text)
    published = page.post(f"/workflows/{workflow_id}/editor/publish", form, htmx=True)
    assert published.status_code == 200 and "Published version 2." in published.text
    assert re.search(r'id="gate-state"[^>]*>Tests passed', page.get(f"/workflows/{workflow_id}/tests").text)
    page.post(f"/workflows/{workflow_id}/tests/gate", {})
    assert in_app(app, lambda u: drafts.own_workflow(u, workflow_id).require_passing_tests, user_id=alice.id) is False


def test_run_all_without_cases_or_with_a_broken_draft_says_why(page, app, alice):
    workflow_id = create_workflow(app, alice, echo_definition())
    assert page.get(f"/workflows/{workflow_id}/test-runs/compare").status_code == 303  # nothing to compare yet
    refused = page.post(f"/workflows/{workflow_id}/test-runs", {"version": "draft"})
    assert refused.status_code == 303
    assert "no test cases" in page.get(f"/workflows/{workflow_id}/tests").text
    add_case(app, alice, workflow_id, "a", "A")
    for version, said in (("99", "has no version 99"), ("v2", "there is no version “v2”")):
        assert page.post(f"/workflows/{workflow_id}/test-runs", {"version": version}).status_code == 303
        assert said in page.get(f"/workflows/{workflow_id}/tests").text
    in_app(app, lambda u: drafts.save_draft(u, workflow_id, broken()), user_id=alice.id)
    assert page.post(f"/workflows/{workflow_id}/test-runs", {"version": "draft"}).status_code == 303
    assert "Not run: the draft has problems" in page.get(f"/workflows/{workflow_id}/tests").text


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
VALUES = st.one_of(TEXT, st.sampled_from(["", "{", "[1]", "1e999", "-0", "null", '{"type": 5}', "9" * 40, "(a+)+$"]))
FIELD_NAMES = st.sampled_from(
    ["name", "inputs.text", "other_inputs", "kind", "check.output", "check.value", "check.pattern", "check.schema",
     "check.min", "check.max", "check.criteria", "check.model", "version", "require_passing_tests"]
)  # fmt: skip


@pytest.fixture
def case_of(app, alice):
    workflow_id = create_workflow(app, alice, echo_definition())
    return workflow_id, add_case(app, alice, workflow_id, "hi", "HI")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.lists(st.tuples(FIELD_NAMES, VALUES), max_size=6),
    kind=st.one_of(st.sampled_from(sorted(KINDS)), TEXT),
    target=st.sampled_from(["add", "save", "check"]),
)
def test_no_tests_tab_post_is_a_500(page, case_of, fields, kind, target):
    workflow_id, case_id = case_of
    path = {"add": f"/workflows/{workflow_id}/tests", "save": f"/tests/{case_id}", "check": f"/tests/{case_id}/checks"}
    answer = page.post(path[target], [("kind", kind), *fields])
    assert answer.status_code in (303, 400, 422), (answer.status_code, answer.text[:500])  # 400: a NUL in the form


def test_forms_post_what_the_page_draws(page, app, alice):
    """The case page's forms, posted as drawn, are accepted (nothing the page draws is refused)."""
    workflow_id = create_workflow(app, alice, echo_definition())
    case_id = add_case(app, alice, workflow_id, "hi", "HI")
    html = page.get(f"/tests/{case_id}?kind=max_length").text
    drawn = form_fields(html, "add-check")
    assert ("kind", "max_length") in drawn
    answer = page.post(f"/tests/{case_id}/checks", [*[p for p in drawn if not p[0].startswith("check.")],
                       ("check.output", "result"), ("check.value", "20")])  # fmt: skip
    assert answer.status_code == 303, answer.text


def test_a_judge_check_shows_what_the_judge_was_sent_and_its_reason(page, app, alice, model):
    model.reply_when("<output>\nHI\n</output>", '{"pass": false, "reason": "It shouts."}')
    workflow_id = create_workflow(app, alice, echo_definition())
    judge = [{"output": "result", "kind": "judge", "criteria": "Speaks softly."}]
    in_app(app, lambda u: case_service.create_case(u, workflow_id, "soft", {"text": "hi"}, judge), user_id=alice.id)
    shown = ended(page, run_tests(page, workflow_id))
    assert "AI judge" in shown and "What the judge was sent" in shown
    assert "Criterion:\nSpeaks softly." in shown and "&lt;output&gt;\nHI\n&lt;/output&gt;" in shown
    assert "It shouts." in shown and 'data-label="Result"><span class="badge status status-failed">' in shown


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kinds_form_is_its_schema_and_reads_back_its_example(app, kind):
    """The add-check form of each kind has exactly its model's fields, and the schema's own
    examples, typed in, read back into a check the API would take."""
    from webapp.schemas.checks import MODEL_OF_KIND
    from webapp.ui.check_forms import check_form, read_check

    schema = MODEL_OF_KIND[kind].model_json_schema(by_alias=True)
    drawn = check_form(kind)
    assert [item.name for item in drawn.fields] == [name for name in schema["properties"] if name != "kind"]
    typed = {"kind": kind}
    for item in drawn.fields:
        example = (schema["properties"][item.name].get("examples") or [None])[0]
        if item.name == "min":
            example = 1  # between: at least one bound
        if example is not None:
            typed[item.form_name] = example if isinstance(example, str) else json.dumps(example)
    with app.test_request_context():
        check, again = read_check(kind, MultiDict(typed))
    assert check is not None, (again.placed, again.loose)
    assert check["kind"] == kind and check["output"] == "answer"


def test_what_no_store_holds_or_no_bound_allows_is_told_on_the_form_not_a_500(page, app, alice):
    workflow_id = create_workflow(app, alice, echo_definition())
    nul = page.post(
        f"/workflows/{workflow_id}/tests", {"name": "nul", "inputs.text": "hi", "other_inputs": '{"k": "\\u0000"}'}
    )
    assert nul.status_code == 422 and "NUL character" in nul.text
    case_id = add_case(app, alice, workflow_id, "hi", "HI")
    big = {"kind": "equals", "check.output": "result", "check.value": json.dumps("x" * 60_000)}
    for _ in range(2):  # 120 KB of checks in all
        assert page.post(f"/tests/{case_id}/checks", big).status_code == 303
    refused = page.post(f"/tests/{case_id}/checks", big)
    assert refused.status_code == 422 and "the checks are" in refused.text


def test_add_to_tests_past_the_limit_is_told_on_the_execution_page(page, app, alice, monkeypatch):
    workflow_id = create_workflow(app, alice, echo_definition())
    execution_id = run_and_wait(app, alice, workflow_id, {"text": "hi"})
    monkeypatch.setattr(case_service, "MAX_TEST_CASES", 1)
    assert page.post(f"/executions/{execution_id}/add-to-tests").status_code == 303
    again = page.post(f"/executions/{execution_id}/add-to-tests")
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/executions/{execution_id}")
    assert "Not added: A workflow keeps at most 1 test cases" in page.get(f"/executions/{execution_id}").text
