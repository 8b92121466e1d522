"""A model's answer streamed through the real openai SDK from the loopback server: the
pieces come as the model sends them, add up to the node's text, carry usage, and start
over (said once) when an attempt after some text is retried."""

from __future__ import annotations

import threading
import time

from tests.definitions import model_definition
from tests.engine.conftest import make_gateway
from webapp.engine import runner
from webapp.engine.definition import parse_definition
from webapp.engine.expressions import Expressions
from webapp.engine.model_calls import Usage
from webapp.engine.runner import Observer
from webapp.llm import RedisCache

EXPRESSIONS = Expressions()


class Collected(Observer):
    """Every node's streamed text, as (time, what, text) in arrival order."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()

    def text_sink(self, node_id: str):
        collected = self

        class Sink:
            def chunk(self, text: str) -> None:
                with collected.lock:
                    collected.seen.append((time.monotonic(), "chunk", text))

            def restart(self, reason: str) -> None:
                with collected.lock:
                    collected.seen.append((time.monotonic(), "restart", reason))

        return Sink()

    def text(self) -> str:
        pieces: list[str] = []
        for _, what, text in self.seen:
            pieces = [] if what == "restart" else [*pieces, text]
        return "".join(pieces)


def stream_model(gateway, prompt: str):
    observer = Collected()
    graph = parse_definition(model_definition(prompt), EXPRESSIONS)
    result = runner.run(graph, {"text": "hi"}, observer, models=gateway)
    return result.records["gen"], observer


def test_pieces_arrive_spread_over_time_and_add_up_to_the_text(model, gateway):
    record, observer = stream_model(gateway, "[[reply=one two three four five]] [[every=0.1]]")
    assert record.status == "completed" and record.output["text"] == "one two three four five"
    chunks = [seen for seen in observer.seen if seen[1] == "chunk"]
    assert [text for _, _, text in chunks] == ["one ", "two ", "three ", "four ", "five"]
    # each piece was handed on when the model sent it, not all at the end
    assert chunks[-1][0] - chunks[0][0] >= 0.3
    assert observer.text() == record.output["text"]
    body = model.calls[0]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_usage_comes_with_the_stream_and_without_it_is_unknown_as_before(model, gateway):
    record, _ = stream_model(gateway, "one two three")
    assert record.usage == Usage(3, 4, 7) and record.cost_usd > 0
    unknown, observer = stream_model(gateway, "[[no_usage]] hi")
    assert unknown.status == "completed" and unknown.usage is None and unknown.cost_usd == 0
    assert observer.text() == unknown.output["text"]


def test_a_retry_after_some_text_says_the_text_starts_over(model):
    gateway = make_gateway(model.base_url, retries=2)
    record, observer = stream_model(gateway, "[[reply=alpha beta gamma delta]] [[break=1]]")
    assert record.status == "completed" and record.attempts == 2
    kinds = [what for _, what, _ in observer.seen]
    assert kinds == ["chunk", "chunk", "restart", "chunk", "chunk", "chunk", "chunk"]
    assert observer.text() == "alpha beta gamma delta"


def test_a_cached_answer_comes_as_one_piece(model, redis_client):
    gateway = make_gateway(model.base_url, cache=RedisCache(redis_client))
    first, _ = stream_model(gateway, "[[reply=cached words here]] again")
    second, observer = stream_model(gateway, "[[reply=cached words here]] again")
    assert second.cached and [text for _, _, text in observer.seen] == ["cached words here"]
    assert model.call_count == 1 and first.output["text"] == second.output["text"]


def test_an_answer_over_the_output_bound_fails_the_node_midway(model):
    gateway = make_gateway(model.base_url, max_answer_bytes=1000)
    record, observer = stream_model(gateway, "[[big=5000]] [[pieces=50]]")
    assert record.status == "failed" and record.error["code"] == "resource_limit"
    assert sum(len(text) for _, _, text in observer.seen) <= 1000
