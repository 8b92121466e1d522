"""Evaluations in Chromium (issue 34): a case added from an execution page, a check added
by kind, the tests run from the workflow's Tests tab and watched live, a failing check's
expected beside its actual, and two test runs compared — at desktop width and at 390 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.api.test_drafts import lowercase_echo
from tests.browser.conftest import screenshot
from tests.browser.test_editor import ada
from tests.definitions import echo_definition
from tests.ui.conftest import create_workflow, in_app
from webapp.evaluations import cases
from webapp.services import drafts

pytestmark = pytest.mark.browser


def add_case(server, workflow_id: str, text: str, expected: str, name: str) -> None:
    checks = [{"output": "result", "kind": "equals", "value": expected}]
    in_app(
        server.app, lambda u: cases.create_case(u, workflow_id, name, {"text": text}, checks), user_id=ada(server).id
    )


def run_all(page, workflow_id: str, against: str = "the draft") -> None:
    """From the workflow's page: its Tests tab, Run all tests (against the draft or a
    version), and the run's page until it ends."""
    page.goto(f"/workflows/{workflow_id}")
    page.get_by_role("link", name="Tests", exact=True).click()
    page.get_by_label("Against").select_option(label=against)
    page.get_by_role("button", name="▶ Run all tests").click()
    page.wait_for_url(re.compile(r".*/test-runs/tr_\w+$"))
    expect(page.locator("#test-run-status")).to_have_text("Completed", timeout=30_000)  # polled, not reloaded


def test_add_a_case_from_an_execution_page_and_a_check_by_kind(browser_page, server):
    page = browser_page
    workflow_id = create_workflow(server.app, ada(server), echo_definition(), name="Shouter")
    page.goto(f"/workflows/{workflow_id}/run")
    page.get_by_label("Text").fill("hello tests")
    page.get_by_role("button", name="▶ Run in background").click()
    page.wait_for_url(re.compile(r".*/executions/exec_\w+$"))
    expect(page.locator("#execution-status")).to_have_text("Completed")
    page.get_by_role("button", name="Add to tests").click()
    page.wait_for_url(re.compile(r".*/tests/tc_\w+$"))
    expect(page.locator("#checks .check-list")).to_contain_text("HELLO TESTS")
    expect(page.locator("#case-name")).to_have_value(re.compile("From exec_"))

    # The add-check form by keyboard: the kind's fields come with the kind.
    page.locator("#check-kind").focus()
    page.locator("#check-kind").select_option("max_length")
    expect(page.locator("#check-value")).to_have_attribute("type", "number")
    expect(page.locator("#check-output")).to_have_value("result")  # the draft's one output
    page.locator("#check-value").fill("5")
    page.keyboard.press("Enter")
    expect(page.locator(".alert-success")).to_contain_text("Added the check")
    expect(page.locator("#checks .check-list li")).to_have_count(2)
    page.locator("#check-kind").select_option("matches")
    page.locator("#check-pattern").fill("x")  # there once the kind's fields are
    page.locator("#check-output").fill("")
    page.locator("#add-check-button").click()
    expect(page.locator("#pb-check-output")).to_contain_text("required")  # beside its field
    refused = "status of 422"  # the form's answer, with its problems (the browser logs the status)
    assert [error for error in page.errors if refused not in error] == []


def test_run_the_tests_from_the_workflow_page_and_see_a_failing_check(browser_page, server):
    page = browser_page
    workflow_id = create_workflow(server.app, ada(server), echo_definition(), name="Graded")
    add_case(server, workflow_id, "Hi", "HI", "shouts")
    add_case(server, workflow_id, "Hi", "hi", "whispers")
    page.goto(f"/workflows/{workflow_id}")  # by keyboard only: the Tests tab, then Run all tests
    page.get_by_role("link", name="Tests", exact=True).focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/tests$"))
    page.locator("#run-version").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "run-all-tests"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/test-runs/tr_\w+$"))
    expect(page.locator("#test-run-status")).to_have_text("Completed", timeout=30_000)
    expect(page.locator("#test-run-rate")).to_have_text("50%")
    failing = page.locator(".case-result", has_text="whispers").locator(".check-row.is-failed")
    expect(failing.locator(".check-expected")).to_contain_text("hi")
    expect(failing.locator(".check-actual")).to_contain_text("HI")
    execution = page.locator(".case-result", has_text="whispers").get_by_role("link", name=re.compile("Execution"))
    expect(execution).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    expect(failing.locator(".check-actual")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "test-run-390.png")
    execution.click()
    expect(page.locator("#execution-status")).to_have_text("Completed")
    page.goto(f"/workflows/{workflow_id}/tests")
    page.get_by_role("link", name="Edit whispers").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "test-case-390.png")
    assert page.errors == []


def test_compare_two_test_runs_side_by_side(browser_page, server):
    page = browser_page
    workflow_id = create_workflow(server.app, ada(server), echo_definition(), name="Loud or quiet")
    for text, expected, name in (("Hi", "HI", "keeps shouting"), ("Ok", "ok", "turns quiet"), ("a", "A", "one letter")):
        add_case(server, workflow_id, text, expected, name)
    in_app(server.app, lambda u: drafts.save_draft(u, workflow_id, lowercase_echo()), user_id=ada(server).id)
    run_all(page, workflow_id, against="version 1 (published)")
    run_all(page, workflow_id)

    page.get_by_role("link", name="← All tests").click()
    expect(page.locator(".rate-chart svg rect.bar, .rate-chart svg rect.bar-zero")).to_have_count(2)
    page.get_by_label("Compare", exact=True).select_option(index=1)  # the older run
    page.get_by_label("with", exact=True).select_option(index=0)  # the newer
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r".*/test-runs/compare\?a=tr_\w+&b=tr_\w+$"))
    rates = page.locator(".compare-side .compare-rate")
    expect(rates.nth(0)).to_have_text("67%")
    expect(rates.nth(1)).to_have_text("33%")
    expect(page.locator(".compare-row.is-changed")).to_have_count(3)
    screenshot(page, "test-run-compare.png")

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator(".compare-side").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(f"/workflows/{workflow_id}/tests")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.errors == []
