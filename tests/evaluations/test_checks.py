"""Scoring checks: each kind passing and failing with its detail, in real sandbox
processes; judges through the real openai SDK against the loopback model server."""

from __future__ import annotations

import json
import time

import pytest

from tests.engine.conftest import make_gateway
from tests.evaluations.sandbox_probe import LOADED
from webapp.engine.errors import Interrupted, NodeError
from webapp.engine.isolation import Bounds, InProcess, SandboxPool, sandboxed
from webapp.engine.model_calls import Usage
from webapp.evaluations.checks import (
    JUDGE_SYSTEM,
    JUDGED_CHARS,
    CheckResult,
    expected,
    judge_messages,
    read_verdict,
    score,
)
from webapp.evaluations.comparisons import COMPARE, QUOTE_CHARS


def make_pool(step_timeout: float = 30) -> SandboxPool:
    return SandboxPool(
        1, Bounds(memory_bytes=256 * 2**20, step_timeout=step_timeout, max_chars=200_000, max_output_bytes=2**20)
    )


class CountedPool(SandboxPool):
    """A real pool that counts its round trips."""

    calls = 0

    def call(self, *args, **kwargs):
        self.calls += 1
        return super().call(*args, **kwargs)


@pytest.fixture(scope="module")
def pool():
    sandboxes = CountedPool(
        1, Bounds(memory_bytes=256 * 2**20, step_timeout=30, max_chars=200_000, max_output_bytes=2**20)
    )
    yield sandboxes
    sandboxes.close()


@pytest.fixture
def gateway(model):
    return make_gateway(model.base_url)


def one(check: dict, outputs: dict | None, sandboxes, models=None, **call) -> CheckResult:
    (result,) = score([check], outputs, sandboxes=sandboxes, models=models, **call)
    return result


OUTPUTS = {
    "city": "Paris",
    "count": 3,
    "price": "12.50",
    "reply": {"city": "Paris", "zip": "75001"},
    "items": ["a", "b", "c"],
    "flag": True,
}

CASES = [
    # (check, passed, detail)
    ({"output": "city", "kind": "equals", "value": "Paris"}, True, 'equals "Paris"'),
    ({"output": "city", "kind": "equals", "value": "Lyon"}, False, 'expected "Lyon", got "Paris"'),
    ({"output": "count", "kind": "equals", "value": 3.0}, True, "equals 3.0"),
    ({"output": "count", "kind": "equals", "value": "3"}, False, 'expected "3", got 3'),
    ({"output": "flag", "kind": "equals", "value": 1}, False, "expected 1, got true"),
    (
        {"output": "reply", "kind": "equals", "value": {"zip": "75001", "city": "Paris"}},
        True,
        'equals {"zip":"75001","city":"Paris"}',
    ),
    ({"output": "city", "kind": "contains", "value": "ari"}, True, '"ari" found at character 1 of "Paris"'),
    ({"output": "city", "kind": "contains", "value": "paris"}, False, '"paris" not found in "Paris"'),
    ({"output": "reply", "kind": "contains", "value": '"zip":"75001"'}, True, None),
    ({"output": "city", "kind": "not_contains", "value": "Lyon"}, True, '"Lyon" not found in "Paris"'),
    ({"output": "city", "kind": "not_contains", "value": "Par"}, False, '"Par" found at character 0 of "Paris"'),
    ({"output": "city", "kind": "matches", "pattern": r"^P\w+s$"}, True, '/^P\\w+s$/ matched "Paris" at character 0'),
    ({"output": "city", "kind": "matches", "pattern": r"^\d+$"}, False, 'no match for /^\\d+$/ in "Paris"'),
    ({"output": "count", "kind": "matches", "pattern": r"^3$"}, True, None),
    (
        {"output": "reply", "kind": "json_schema", "schema": {"type": "object", "required": ["city", "zip"]}},
        True,
        "conforms to the schema",
    ),
    (
        {"output": "reply", "kind": "json_schema", "schema": {"required": ["country"]}},
        False,
        "'country' is a required property (at $)",
    ),
    (
        {"output": "reply", "kind": "json_schema", "schema": {"properties": {"zip": {"pattern": "^[0-9]{4}$"}}}},
        False,
        "'75001' does not match '^[0-9]{4}$' (at $.zip)",
    ),
    (
        {"output": "items", "kind": "json_schema", "schema": {"type": "array", "maxItems": 2}},
        False,
        "['a', 'b', 'c'] is too long (at $)",
    ),
    ({"output": "count", "kind": "between", "min": 1, "max": 5}, True, "3 is between 1 and 5"),
    ({"output": "count", "kind": "between", "min": 4}, False, "3 is below the minimum 4"),
    ({"output": "count", "kind": "between", "max": 2.5}, False, "3 is above the maximum 2.5"),
    ({"output": "price", "kind": "between", "min": 10}, True, '"12.50" is at least 10'),
    ({"output": "city", "kind": "between", "max": 10}, False, 'expected a number, got "Paris"'),
    ({"output": "flag", "kind": "between", "max": 10}, False, "expected a number, got true"),
    ({"output": "city", "kind": "max_length", "value": 5}, True, "5 characters, at most 5"),
    ({"output": "city", "kind": "max_length", "value": 4}, False, "5 characters, more than 4"),
    ({"output": "items", "kind": "max_length", "value": 2}, False, "3 items, more than 2"),
    ({"output": "reply", "kind": "max_length", "value": 40}, True, "30 characters, at most 40"),
]


@pytest.mark.parametrize(("check", "passed", "detail"), CASES, ids=lambda value: str(value)[:40])
def test_each_kind_passes_and_fails_with_its_detail_in_a_sandbox(pool, check, passed, detail):
    result = one(check, OUTPUTS, pool)
    assert (result.passed, result.error) == (passed, False), result.detail
    assert result.kind == check["kind"] and result.output == check["output"]
    if detail is not None:
        assert result.detail == detail
    shown = {"kind": check["kind"], "output": check["output"], "passed": passed, "detail": result.detail}
    assert result.as_dict() == shown


def test_every_comparing_check_of_a_case_is_one_sandbox_round_trip(pool):
    checks = [check for check, _, _ in CASES]
    before = pool.calls
    results = score(checks, OUTPUTS, sandboxes=pool, models=None)
    assert pool.calls == before + 1
    assert [result.passed for result in results] == [passed for _, passed, _ in CASES]


def test_the_same_verdicts_without_a_sandbox_process():
    checks = [check for check, _, _ in CASES]
    in_process = score(checks, OUTPUTS, sandboxes=InProcess(), models=None)
    assert [result.passed for result in in_process] == [passed for _, passed, _ in CASES]


def test_a_long_value_is_quoted_clipped_on_both_sides(pool):
    result = one({"output": "text", "kind": "equals", "value": "b" * 5000}, {"text": "a" * 100_000}, pool)
    assert not result.passed
    wanted, got = result.detail.removeprefix("expected ").split(", got ")
    assert len(wanted) <= QUOTE_CHARS and len(got) <= QUOTE_CHARS
    assert wanted.startswith('"bbb') and wanted.endswith("…") and got.startswith('"aaa') and got.endswith("…")


def test_a_check_on_an_output_the_execution_did_not_give_fails_saying_so(pool):
    result = one({"output": "missing", "kind": "contains", "value": "x"}, OUTPUTS, pool)
    assert (result.passed, result.error, result.detail) == (False, False, 'the execution gave no output "missing"')
    nothing = score(
        [{"output": "city", "kind": "equals", "value": "Paris"}, {"output": "city", "kind": "judge", "criteria": "x"}],
        None,
        sandboxes=pool,
        models=None,
    )
    assert [(r.passed, r.error) for r in nothing] == [(False, False), (False, False)]
    assert all(r.detail == 'no output "city": the execution gave no outputs' for r in nothing)


# -- what a user's pattern can do ---------------------------------------------------------------


def test_a_catastrophic_pattern_ends_as_a_failed_or_errored_check_not_a_hang(pool):
    result = one({"output": "text", "kind": "matches", "pattern": "(a+)+$"}, {"text": "a" * 40 + "b"}, pool)
    assert result.passed is False


def test_a_pattern_that_backtracks_past_its_timeout_gives_no_verdict(pool):
    checks = [
        {"output": "text", "kind": "matches", "pattern": "(a|aa)+$"},
        {"output": "text", "kind": "json_schema", "schema": {"type": "string", "pattern": "(a|aa)+$"}},
        {"output": "text", "kind": "max_length", "value": 100},
    ]
    slow, slow_schema, quick = score(checks, {"text": "a" * 60 + "b"}, sandboxes=pool, models=None)
    assert (slow.passed, slow.error) == (False, True) and "the pattern took longer than 1 s" in slow.detail
    assert (slow_schema.passed, slow_schema.error) == (False, True) and "took too long" in slow_schema.detail
    assert (quick.passed, quick.error) == (True, False), "the other checks of the case still have their verdict"


def test_a_pattern_the_static_reader_lets_through_but_regex_refuses_gives_no_verdict(pool):
    result = one({"output": "text", "kind": "matches", "pattern": "a**"}, {"text": "aaa"}, pool)
    assert (result.passed, result.error) == (False, True) and "cannot be used" in result.detail


def test_a_schemas_ref_is_never_fetched(pool, api_server):
    api_server.calls.clear()
    schema = {"$ref": api_server.url("/schema.json")}
    result = one({"output": "text", "kind": "json_schema", "schema": schema}, {"text": "x"}, pool)
    assert (result.passed, result.error) == (False, True) and "cannot be resolved" in result.detail
    assert api_server.calls == []


def test_a_schema_that_refers_to_itself_without_end_gives_no_verdict(pool):
    result = one({"output": "text", "kind": "json_schema", "schema": {"$ref": "#"}}, {"text": "x"}, pool)
    assert (result.passed, result.error) == (False, True)


def test_a_sandbox_that_runs_out_of_time_errs_every_comparing_check_and_is_replaced():
    sandboxes = make_pool(step_timeout=0.5)
    try:
        checks = [
            {"output": "text", "kind": "matches", "pattern": "(a|aa)+$"},  # 1 s to time out: past the sandbox's 0.5
            {"output": "text", "kind": "contains", "value": "b"},
        ]
        results = score(checks, {"text": "a" * 60 + "b"}, sandboxes=sandboxes, models=None)
        assert [(r.passed, r.error) for r in results] == [(False, True), (False, True)]
        assert all(r.detail.startswith("no verdict: the sandbox that checks values failed") for r in results)
        assert sandboxes.alive == 0, "killed, not given back"
        assert one({"output": "text", "kind": "contains", "value": "b"}, {"text": "ab"}, sandboxes).passed
    finally:
        sandboxes.close()


def test_a_deadline_already_past_errs_the_checks_without_a_sandbox(pool):
    before = pool.calls
    result = one({"output": "city", "kind": "contains", "value": "P"}, OUTPUTS, pool, deadline=time.monotonic() - 1)
    assert (result.passed, result.error) == (False, True) and "ran out of time" in result.detail
    assert pool.calls == before


SLOW = {"output": "text", "kind": "matches", "pattern": "(a|aa)+$"}


def test_a_stopped_run_interrupts_the_checks(pool):
    with pytest.raises(Interrupted):
        one(SLOW, {"text": "a" * 60 + "b"}, pool, stopped=lambda: True)


def test_scoring_in_a_sandbox_imports_no_web_framework_there():
    sandboxes = make_pool()  # one sandbox: the probe runs where the checks ran
    try:
        schema = {"output": "city", "kind": "json_schema", "schema": {"type": "string"}}
        assert one(schema, OUTPUTS, sandboxes).passed
        heavy = ["flask", "sqlalchemy", "pydantic", "openai", "jsonschema"]
        assert sandboxes.call(LOADED, heavy, lambda: False) == ["jsonschema"]
    finally:
        sandboxes.close()


def test_only_registered_functions_are_called_in_a_sandbox(pool):
    with pytest.raises(NodeError, match="no function is registered"):
        pool.call("evaluations.nothing", {}, lambda: False)
    with pytest.raises(ValueError, match="already registered"):
        sandboxed(COMPARE)(lambda payload: payload)


# -- judges ---------------------------------------------------------------------------------------

VERDICT_PASS = '{"pass": true, "reason": "It names Paris."}'
VERDICT_FAIL = '{"pass": false, "reason": "It names Lyon,\\n not Paris."}'
JUDGE = {"output": "city", "kind": "judge", "criteria": "Names the capital of France."}


def test_a_judge_that_passes_the_output_carries_its_reason_tokens_and_cost(pool, model, gateway):
    model.reply_when("<output>\nParis\n</output>", VERDICT_PASS)
    result = one(JUDGE, OUTPUTS, pool, gateway.for_owner("usr_1"))
    assert (result.passed, result.error, result.detail) == (True, False, "It names Paris.")
    assert result.usage is not None and result.usage.completion_tokens == len(VERDICT_PASS.split())
    assert result.cost_usd > 0
    (call,) = model.calls
    body = call["body"]
    assert body["temperature"] == 0 and body["response_format"] == {"type": "json_object"}
    assert body["model"] == "gpt-4o-mini", "no model given: the deployment's default"
    sent = judge_messages(JUDGE["criteria"], "Paris")
    assert body["messages"] == [{"role": role, "content": text} for role, text in sent]


def test_a_judge_that_fails_the_output_gives_its_reason_on_one_line(pool, model, gateway):
    model.reply_when("<output>\nLyon\n</output>", f"```json\n{VERDICT_FAIL}\n```")
    result = one(JUDGE, {"city": "Lyon"}, pool, gateway)
    assert (result.passed, result.error, result.detail) == (False, False, "It names Lyon, not Paris.")


def test_a_judge_asks_the_model_it_names(pool, model, gateway):
    model.reply_when("Polite", VERDICT_PASS)
    result = one({**JUDGE, "criteria": "Polite.", "model": "local-llama"}, OUTPUTS, pool, gateway)
    assert result.passed and model.calls[0]["body"]["model"] == "local-llama"
    assert result.cost_usd == 0, "a model with no known price costs nothing"


def test_a_judge_whose_answer_is_not_a_verdict_gives_no_verdict_but_its_cost_counts(pool, model, gateway):
    result = one(JUDGE, OUTPUTS, pool, gateway)  # the server echoes a JSON object with no "pass"
    assert (result.passed, result.error) == (False, True)
    assert result.detail.startswith("no verdict: the judge answered") and "echo" in result.detail
    assert result.usage is not None and result.usage.total_tokens > 0


def test_a_judge_model_that_fails_gives_no_verdict_naming_the_error(pool, model):
    gateway = make_gateway(model.base_url, retries=0)
    result = one(JUDGE, {"city": "Paris [[status=500]]"}, pool, gateway)
    assert (result.passed, result.error) == (False, True)
    assert "model_error" in result.detail and "500" in result.detail
    assert result.usage is None and result.cost_usd == 0


def test_judges_and_comparisons_of_one_case_keep_their_order(pool, model, gateway):
    model.reply_when("Names the capital", VERDICT_PASS)
    model.reply_when("Short", VERDICT_FAIL)
    checks = [
        JUDGE,
        {"output": "city", "kind": "equals", "value": "Paris"},
        {"output": "city", "kind": "judge", "criteria": "Short."},
        {"output": "nope", "kind": "judge", "criteria": "Anything."},
    ]
    results = score(checks, OUTPUTS, sandboxes=pool, models=gateway)
    assert [(r.kind, r.passed, r.error) for r in results] == [
        ("judge", True, False),
        ("equals", True, False),
        ("judge", False, False),
        ("judge", False, False),
    ]
    assert model.call_count == 2, "no call for an output the execution did not give"


def test_no_model_gateway_gives_the_judges_no_verdict(pool):
    result = one(JUDGE, OUTPUTS, pool, None)
    assert (result.passed, result.error) == (False, True)


def test_what_the_judge_is_sent_reads_plainly_and_is_bounded():
    (system, user) = judge_messages("Names Paris.", {"city": "Paris"})
    assert system == ("system", JUDGE_SYSTEM) and '"pass"' in JUDGE_SYSTEM
    assert user == ("user", 'Criterion:\nNames Paris.\n\nOutput:\n<output>\n{"city":"Paris"}\n</output>')
    (_, (_, long)) = judge_messages("x", "y" * (JUDGED_CHARS + 10))
    assert "y" * JUDGED_CHARS in long and "y" * (JUDGED_CHARS + 1) not in long
    assert "[… 10 more characters not shown]" in long


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ('{"pass": true, "reason": "ok"}', (True, "ok")),
        ('{"pass": false}', (False, "")),
        ('Sure. {"pass": "FAIL", "reason": "too long"} Hope it helps.', (False, "too long")),
        ('{"passed": true, "reason": "fine"}', (True, "fine")),
        ('{"pass": "maybe", "reason": "hm"}', None),
        ('{"verdict": true}', None),
        ("[true]", None),
        ("Yes, it passes.", None),
        ("", None),
    ],
)
def test_a_verdict_is_read_leniently_but_must_be_a_pass_or_a_fail(text, verdict):
    assert read_verdict(text) == verdict


@pytest.mark.parametrize(
    ("check", "words"),
    [
        ({"kind": "equals", "value": {"a": 1}}, 'equals {"a":1}'),
        ({"kind": "contains", "value": "Paris"}, 'contains "Paris"'),
        ({"kind": "not_contains", "value": "sorry"}, 'does not contain "sorry"'),
        ({"kind": "matches", "pattern": "^a+$"}, "matches /^a+$/"),
        ({"kind": "json_schema", "schema": {"type": "string"}}, 'conforms to the JSON Schema {"type":"string"}'),
        ({"kind": "between", "min": 1, "max": 5}, "a number between 1 and 5"),
        ({"kind": "between", "min": 1}, "a number of at least 1"),
        ({"kind": "between", "max": 2.5}, "a number of at most 2.5"),
        ({"kind": "max_length", "value": 1000}, "at most 1,000 characters (or items, for a list)"),
        ({"kind": "judge", "criteria": "Polite."}, "judged by a model: Polite."),
    ],
)
def test_what_a_check_expects_in_words(check, words):
    assert expected({"output": "a", **check}) == words


def test_a_result_is_plain_data():
    result = CheckResult("judge", "city", True, "ok", usage=Usage(1, 2, 3), cost_usd=0.5)
    shown = {"kind": "judge", "output": "city", "passed": True, "detail": "ok"}
    assert json.loads(json.dumps(result.as_dict())) == shown
