"""ai_model through the real openai SDK against the loopback server: messages, errors,
retries, timeouts, usage, cost and the response cache (real Redis, real database)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import create_engine

from tests.definitions import model_definition
from tests.engine.conftest import make_gateway
from tests.http_server import trickles_ended
from webapp.engine import runner
from webapp.engine.definition import parse_definition
from webapp.engine.errors import Interrupted, NodeError
from webapp.engine.expressions import Expressions
from webapp.engine.model_calls import ModelRequest, Usage
from webapp.engine.stopping import StopSignal
from webapp.extensions import db
from webapp.llm import DatabaseCache, PriceTable, ProviderSettings, RedisCache
from webapp.outbound import Destinations
from webapp.runs.records import totals

EXPRESSIONS = Expressions()


def run_model(gateway, prompt="{{ in.text }}", text="hello", **config):
    graph = parse_definition(model_definition(prompt, **config), EXPRESSIONS)
    result = runner.run(graph, {"text": text}, models=gateway)
    return result, result.records["gen"]


def test_prompt_is_the_one_user_message_and_system_the_system_message(model, gateway):
    _, record = run_model(gateway, "Summarise: {{ in.text }}", system="You are terse.", temperature=0.2, max_tokens=50)
    assert record.status == "completed"
    body = model.calls[0]["body"]
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Summarise: hello"},
    ]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 50 and body["model"] == "gpt-4o-mini"
    assert record.output["text"] == "Echo: Summarise: hello"
    assert record.input == {"system": "You are terse.", "user": "Summarise: hello"}


def test_json_mode_parses_and_instructs_in_the_system_message(model, gateway):
    model.reply_when("rate", '{"score": 8, "why": "good"}')
    _, record = run_model(gateway, "rate {{ in.text }}", response_format="json")
    assert record.output["json"] == {"score": 8, "why": "good"}
    body = model.calls[0]["body"]
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][-1] == {"role": "user", "content": "rate hello"}, "the prompt is sent verbatim"
    assert "JSON" in body["messages"][0]["content"]


def test_invalid_json_from_the_model_fails_the_node_clearly(model, gateway):
    model.reply_when("rate", "Sure! The score is 8.")
    result, record = run_model(gateway, "rate {{ in.text }}", response_format="json")
    assert record.status == "failed" and record.error["code"] == "invalid_json"
    assert "did not answer with valid JSON" in record.error["message"]
    assert result.error["code"] == "node_failed"


def test_usage_and_cost(model, gateway):
    _, record = run_model(gateway, "one two three")
    assert record.usage == Usage(3, 4, 7)  # the server counts words: "Echo: one two three"
    assert record.cost_usd == pytest.approx((3 * 0.15 + 4 * 0.60) / 1_000_000)  # gpt-4o-mini prices
    assert record.output["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert record.output["cost_usd"] == record.cost_usd


def test_a_model_with_no_known_price_costs_0_and_says_so(model, gateway):
    _, record = run_model(gateway, "one two three", model="llama3:8b")
    assert record.usage == Usage(3, 4, 7) and record.cost_usd == 0
    assert record.output["cost_usd"] == 0 and record.output["price_known"] is False
    _, priced = run_model(gateway, "one two three")
    assert priced.output["price_known"] is True


def test_missing_usage_is_unknown_not_a_crash(model, gateway):
    _, record = run_model(gateway, "[[no_usage]] hi")
    assert record.status == "completed" and record.usage is None and record.cost_usd == 0
    assert record.output["usage"] is None


def test_price_table_prefixes_overrides_and_unknown_models():
    prices = PriceTable({"my-local-model": {"prompt": 1.0, "completion": 2.0}})
    usage = Usage(1_000_000, 500_000, 1_500_000)
    assert prices.cost("gpt-4o-mini-2024-07-18", usage) == (pytest.approx(0.15 + 0.30), True)
    assert prices.cost("my-local-model", usage) == (pytest.approx(2.0), True)
    assert prices.cost("llama3:8b", usage) == (0.0, False)


def test_retries_on_429_then_succeeds(model):
    gateway = make_gateway(model.base_url, retries=2)
    _, record = run_model(gateway, "[[fail=2:429]] again")
    assert record.status == "completed" and record.attempts == 3
    assert model.call_count == 3


def test_rate_limited_when_retries_run_out(model):
    gateway = make_gateway(model.base_url, retries=1)
    result, record = run_model(gateway, "[[status=429]] always")
    assert record.error["code"] == "rate_limited" and record.attempts == 2
    assert result.error["code"] == "rate_limited"
    assert model.call_count == 2, "the SDK retries; nothing of ours multiplies that"


def test_server_errors_are_model_errors_after_retries(model):
    gateway = make_gateway(model.base_url, retries=1)
    _, record = run_model(gateway, "[[status=500]] boom")
    assert record.error["code"] == "model_error" and "500" in record.error["message"]
    assert model.call_count == 2


def test_per_node_retries_override_the_default(model):
    gateway = make_gateway(model.base_url, retries=5)
    _, record = run_model(gateway, "[[status=500]] boom", retries=0)
    assert model.call_count == 1 and record.attempts == 1


def test_per_node_timeout(model):
    gateway = make_gateway(model.base_url, retries=0)
    result, record = run_model(gateway, "[[hang]] slow", timeout=0.3)
    assert record.error["code"] == "timeout" and result.error["code"] == "timeout"


def test_a_timed_out_run_makes_exactly_one_model_call_and_counts_what_was_answered(model):
    """The call in flight ends with the run's time, not with MODEL_TIMEOUT, and is not
    retried: no call goes on, unseen and unpaid for, after the run has ended."""
    gateway = make_gateway(model.base_url, retries=2, timeout=1.5)
    definition = model_definition("[[hang]] {{ first.text }}")
    definition["nodes"].insert(1, {"id": "first", "type": "ai_model", "config": {"prompt": "quick {{ in.text }}"}})
    definition["connections"][0] = {"from": "in", "to": "first"}
    definition["connections"].insert(1, {"from": "first", "to": "gen"})
    graph = parse_definition(definition, EXPRESSIONS)
    result = runner.run(graph, {"text": "hello"}, models=gateway, limits=runner.Limits(timeout=1.0))
    assert result.status == "failed" and result.error["code"] == "timeout"
    time.sleep(1.5 + 1.0)  # past the model's own timeout and the first retry's backoff
    assert model.call_count == 2, "the quick call, and the cut one once"
    cut = result.records["gen"]
    assert cut.status == "failed" and cut.error["code"] == "timeout" and cut.attempts == 1
    answered = result.records["first"]
    assert answered.status == "completed" and answered.usage.total_tokens > 0
    assert totals(result.records.values())["total_tokens"] == answered.usage.total_tokens


def test_a_stopped_run_retries_nothing_and_records_the_call_that_came_back(model):
    gateway = make_gateway(model.base_url, retries=3)

    class CancelSoon(runner.Observer):
        started = time.monotonic()

        def should_stop(self):
            if time.monotonic() - self.started > 0.2:
                return runner.Stop("cancelled", "cancelled on request", status="cancelled")
            return None

    graph = parse_definition(model_definition("[[fail=9:500]] [[latency=0.5]] {{ in.text }}"), EXPRESSIONS)
    result = runner.run(graph, {"text": "x"}, CancelSoon(), models=gateway)
    assert result.status == "cancelled"
    time.sleep(1.5)  # past the first retry's backoff
    assert model.call_count == 1
    record = result.records["gen"]
    assert record.status == "failed" and record.attempts == 1 and "500" in record.error["message"]


@pytest.mark.parametrize("provider", [False, True], ids=["server-endpoint", "user-provider"])
def test_a_trickled_model_answer_ends_at_the_attempts_timeout(model, provider):
    """A byte every 0.5 s never trips the SDK's timeout per read; the whole answer has
    1 s, at the server's own endpoint and at a user's provider alike."""
    gateway = make_gateway(model.base_url, retries=0)
    settings = None
    if provider:
        gateway.destinations = Destinations.parse("127.0.0.1")
        settings = ProviderSettings("prv_1", "mine", model.base_url, "k", {}, "v1")
    request = ModelRequest(model=None, messages=(("user", "[[drip=0.5]] hi"),), timeout=1, cache=False)
    with pytest.raises(NodeError) as failed:
        gateway.complete(request, provider=settings)
    assert failed.value.code == "timeout"
    (drip,) = trickles_ended(model)
    assert drip.closed_after is not None, "the client hung up before the answer was over"


class StopFromOutside(runner.Observer):
    """Ends the run from another thread ``after`` seconds past the first model call, as a
    cancel heard from elsewhere does (``Observer.listen``); notes when."""

    def __init__(self, model, after: float) -> None:
        self.model, self.after, self.stopped_at = model, after, None

    def listen(self, stop_now) -> None:
        def stop_later() -> None:
            while self.model.call_count == 0:
                time.sleep(0.01)
            time.sleep(self.after)
            self.stopped_at = time.time()
            stop_now(runner.Stop("cancelled", "cancelled on request", status="cancelled"))

        threading.Thread(target=stop_later, daemon=True).start()


@pytest.mark.parametrize(
    ("prompt", "stop_after"),
    [
        ("[[fail=9:500]]", 0.8),  # retries wait 0.375-0.5 s, then 0.75-1 s: the stop falls in the second
        ("[[fail=9:429]] [[retry_after=5]]", 0.5),  # the server asked for 5 s
    ],
    ids=["backoff", "retry-after"],
)
def test_a_stop_wakes_an_attempt_waiting_to_retry_and_no_call_follows(model, prompt, stop_after):
    gateway = make_gateway(model.base_url, retries=5)
    observer = StopFromOutside(model, stop_after)
    graph = parse_definition(model_definition(prompt + " {{ in.text }}"), EXPRESSIONS)
    result = runner.run(graph, {"text": "x"}, observer, models=gateway)
    ended_at = time.time()
    assert result.status == "cancelled"
    assert ended_at - observer.stopped_at < 3, "woken, not waiting out the retry's wait"
    time.sleep(2.5)  # past the wait it was in, had it slept it out
    assert [c["started"] for c in model.calls if c["started"] > observer.stopped_at] == []
    assert result.records["gen"].status == "failed"  # the last attempt's failure stands


def test_no_attempt_starts_once_the_run_has_stopped(model, gateway):
    """A model node that only begins after the stop (it waited for a thread) calls nothing."""
    stopped = StopSignal()
    stopped.set()
    with pytest.raises(Interrupted):
        gateway.complete(ModelRequest(model=None, messages=(("user", "late"),)), stopped=stopped)
    assert model.call_count == 0


def test_a_cancelled_calls_answer_is_counted_when_it_lands(model):
    """The run ends at the stop, its node abandoned; the call goes on (the provider bills it
    either way) and what it spent comes back through ``when_late``."""
    gateway = make_gateway(model.base_url, retries=0)
    observer = StopFromOutside(model, 0.3)
    graph = parse_definition(model_definition("[[latency=1.5]] {{ in.text }}"), EXPRESSIONS)
    result = runner.run(graph, {"text": "slow one"}, observer, models=gateway)
    assert result.status == "cancelled" and result.records["gen"].status == "cancelled"
    landed = threading.Event()
    spent = []
    result.when_late(lambda record: (spent.append(record), landed.set()))
    assert landed.wait(10), "the answer came back and was handed over"
    (record,) = spent
    assert record.node_id == "gen" and record.usage.total_tokens > 0 and record.cost_usd > 0


def test_malformed_answer_is_a_model_error(model):
    gateway = make_gateway(model.base_url, retries=0)
    _, record = run_model(gateway, "[[malformed]] x")
    assert record.status == "failed" and record.error["code"] == "model_error"


def test_unreachable_server_is_a_model_error():
    gateway = make_gateway("http://127.0.0.1:9/v1", retries=0, timeout=2)
    _, record = run_model(gateway, "x")
    assert record.error["code"] == "model_error"


# -- the response cache -----------------------------------------------------------------------


@pytest.fixture(params=["redis", "database"])
def cache(request, tmp_path):
    if request.param == "redis":
        return RedisCache(request.getfixturevalue("redis_client"))
    engine = create_engine(f"sqlite:///{tmp_path / 'cache.db'}")
    db.metadata.create_all(engine, tables=[DatabaseCache.table])
    return DatabaseCache(engine)


def test_identical_calls_are_answered_from_the_cache(model, cache):
    gateway = make_gateway(model.base_url, cache=cache)
    _, first = run_model(gateway, "cache me")
    _, second = run_model(gateway, "cache me")
    assert model.call_count == 1
    assert not first.cached and second.cached
    assert second.output["text"] == first.output["text"]
    assert second.usage == Usage(0, 0, 0) and second.cost_usd == 0
    assert second.cost_saved_usd == pytest.approx(first.cost_usd) and second.cost_saved_usd > 0


def test_different_parameters_miss_the_cache(model, cache):
    gateway = make_gateway(model.base_url, cache=cache)
    run_model(gateway, "cache me", temperature=0.1)
    run_model(gateway, "cache me", temperature=0.9)
    run_model(gateway, "cache me", text="other input")
    assert model.call_count == 3


def test_cache_false_opts_out(model, cache):
    gateway = make_gateway(model.base_url, cache=cache)
    run_model(gateway, "fresh please", cache=False)
    _, again = run_model(gateway, "fresh please", cache=False)
    assert model.call_count == 2 and not again.cached


def test_answers_the_node_would_reject_are_not_cached(model, cache):
    gateway = make_gateway(model.base_url, cache=cache)
    model.reply_when("rate", "not json at all")
    run_model(gateway, "rate it", response_format="json")
    model.replies.clear()
    model.reply_when("rate", json.dumps({"score": 3}))
    _, record = run_model(gateway, "rate it", response_format="json")
    assert record.status == "completed" and record.output["json"] == {"score": 3}
    assert model.call_count == 2


def test_non_finite_numbers_in_a_json_answer_are_invalid_json(model, gateway):
    model.reply_when("rate", '{"score": NaN, "max": Infinity}')
    _, record = run_model(gateway, "rate {{ in.text }}", response_format="json")
    assert record.status == "failed" and record.error["code"] == "invalid_json"
