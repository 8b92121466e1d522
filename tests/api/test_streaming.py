"""An execution's events over the API (docs/api.md, "Streaming"), each test in local mode
and in queue mode (a real RQ worker's events reaching this process through Redis): order
and ids, a model's text arriving piece by piece, usage, late joiners, resuming, owner only,
``stream: true`` on execute and on a webhook, and a cancel ending the stream."""

from __future__ import annotations

import time

import pytest
import redis as redis_lib

from tests.api.test_executions import create
from tests.api.test_triggers import hook_path, webhook
from tests.conftest import close_app, make_app, make_user
from tests.definitions import model_definition
from tests.event_streams import Stream, text_of
from webapp.runs.events import KEY, SETTLED_KEEP

WORDS = "one two three four five six"


@pytest.fixture
def app(mode_app):
    return mode_app


def events_of(api, execution_id: str, **headers) -> Stream:
    response = api.get(f"/executions/{execution_id}/events", headers=headers, buffered=False)
    assert response.status_code == 200, response.get_data()
    assert response.mimetype == "text/event-stream"
    return Stream(response)


def start(api, prompt: str) -> str:
    workflow_id = create(api, model_definition(prompt))
    answer = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}, "async": True})
    return answer.json["execution_id"]


def test_events_come_in_order_with_growing_ids_and_the_text_piece_by_piece(api):
    execution_id = start(api, f"[[reply={WORDS}]] [[every=0.15]] {{{{ in.text }}}}")
    events = events_of(api, execution_id).rest()
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    kinds = [(e.event, e.data.get("node_id")) for e in events]
    assert kinds == [
        ("execution_started", None),
        ("node_started", "in"),
        ("node_finished", "in"),
        ("node_started", "gen"),
        *[("text_chunk", "gen")] * 6,
        ("node_finished", "gen"),
        ("node_started", "out"),
        ("node_finished", "out"),
        ("execution_finished", None),
    ]
    chunks = [e for e in events if e.event == "text_chunk"]
    gen = next(e for e in events if e.event == "node_finished" and e.data["node_id"] == "gen")
    # the pieces arrived as the model sent them (0.15 s apart), not all when the node finished
    assert chunks[-1].at - chunks[0].at >= 0.5
    assert gen.at - chunks[0].at >= 0.5
    assert text_of(events, "gen") == WORDS == gen.data["output"]["text"]
    assert gen.data["status"] == "completed" and gen.data["error"] is None
    assert gen.data["usage"]["completion_tokens"] == 6 and gen.data["usage"]["cost_usd"] > 0
    finished = events[-1].data
    assert finished["id"] == execution_id and finished["status"] == "completed" and "nodes" not in finished
    assert finished["outputs"] == {"answer": WORDS}
    assert finished["usage"]["total_tokens"] == gen.data["usage"]["total_tokens"]


def test_a_late_joiner_first_gets_what_already_happened(api):
    execution_id = start(api, f"[[reply={WORDS}]] [[every=0.2]]")
    early = events_of(api, execution_id)
    early.until(lambda e: e.event == "text_chunk" and e.data["text"].startswith("two"))
    late = events_of(api, execution_id)
    first_late = late.next()
    assert first_late.id == 1 and first_late.event == "execution_started"
    late_events, early_events = late.rest(), early.rest()
    assert [(e.id, e.event, e.data) for e in late_events] == [(e.id, e.event, e.data) for e in early_events]
    # and one that joins after the end gets it all, then the end
    after = events_of(api, execution_id).rest()
    assert [(e.id, e.event) for e in after] == [(e.id, e.event) for e in early_events]
    assert {e.data["node_id"] for e in after if e.event == "node_finished"} == {"in", "gen", "out"}


def test_last_event_id_resumes_after_that_event(api):
    execution_id = start(api, f"[[reply={WORDS}]] [[every=0.15]]")
    first = events_of(api, execution_id)
    seen = first.until(lambda e: e.event == "text_chunk" and e.data["text"].startswith("three"))
    first.close()
    resumed = events_of(api, execution_id, **{"Last-Event-ID": str(seen.id)}).rest()
    assert resumed[0].id == seen.id + 1
    assert [e.id for e in resumed] == list(range(seen.id + 1, seen.id + 1 + len(resumed)))
    assert text_of(first.events, "gen") + text_of(resumed, "gen") == WORDS
    assert resumed[-1].event == "execution_finished"


def test_only_the_owner_may_follow_an_execution(api, other_api):
    execution_id = start(api, "hello")
    assert other_api.get(f"/executions/{execution_id}/events").status_code == 404
    assert api.get("/executions/exec_nope/events").status_code == 404
    bad = api.get(f"/executions/{execution_id}/events", headers={"Last-Event-ID": "two"})
    assert bad.status_code == 400 and bad.json["error"]["code"] == "bad_request"
    events_of(api, execution_id).rest()


def test_execute_with_stream_answers_with_the_events(api):
    workflow_id = create(api, model_definition(f"[[reply={WORDS}]] [[every=0.05]] {{{{ in.text }}}}"))
    response = api.post(
        f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}, "stream": True}, buffered=False
    )
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = Stream(response).rest()
    assert events[0].event == "execution_started" and events[-1].event == "execution_finished"
    assert text_of(events, "gen") == WORDS and events[-1].data["outputs"] == {"answer": WORDS}


def test_a_webhook_with_stream_answers_with_the_events(api, client):
    workflow_id = create(api, model_definition("[[reply=hooked on streams]] [[every=0.05]] {{ in.text }}"))
    path = hook_path(webhook(api, workflow_id))
    response = client.post(path + "?stream=true", json={"text": "ping"}, buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = Stream(response).rest()
    assert text_of(events, "gen") == "hooked on streams"
    # Told what the webhook answers and no more: how each node ended, not its output or usage.
    finished = [e.data for e in events if e.event == "node_finished"]
    assert finished and all(set(data) == {"node_id", "status"} for data in finished)
    last = events[-1]
    assert last.event == "execution_finished" and set(last.data) == {"execution_id", "status", "outputs"}
    assert last.data["status"] == "completed" and last.data["outputs"] == {"answer": "hooked on streams"}
    execution = api.get(f"/executions/{last.data['execution_id']}").json
    assert execution["trigger"] == "webhook"


def test_a_cancel_mid_stream_ends_the_stream_with_execution_finished(api):
    execution_id = start(api, f"[[reply={WORDS} {WORDS} {WORDS}]] [[every=0.5]]")
    stream = events_of(api, execution_id)
    stream.until(lambda e: e.event == "text_chunk")
    assert api.post(f"/executions/{execution_id}/cancel").status_code == 202
    events = stream.rest()
    assert events[-1].event == "execution_finished" and events[-1].data["status"] == "cancelled"
    assert events[-1].data["error"]["code"] == "cancelled"


def test_a_retry_after_some_text_says_the_text_starts_over(api):
    execution_id = start(api, f"[[reply={WORDS}]] [[break=1]]")
    events = events_of(api, execution_id).rest()
    kinds = [e.event for e in events if e.data.get("node_id") == "gen"]
    assert kinds.count("text_reset") == 1 and kinds.index("text_reset") > kinds.index("text_chunk")
    gen = next(e for e in events if e.event == "node_finished" and e.data["node_id"] == "gen")
    assert text_of(events, "gen") == WORDS == gen.data["output"]["text"]


def test_streams_past_stream_slots_are_refused_with_503_and_start_nothing(database_url, model):
    app = make_app(database_url, model.base_url, STREAM_SLOTS=1)
    try:
        _, key = make_user(app, "carol@example.com")
        client = app.test_client()
        auth = {"Authorization": f"Bearer {key}"}
        workflow_id = client.post(
            "/api/v1/workflows", json={"name": "w", **model_definition("[[every=0.3]] a b c d")}, headers=auth
        ).json["id"]
        execute = f"/api/v1/workflows/{workflow_id}/execute"
        held = client.post(execute, json={"inputs": {"text": "x"}, "stream": True}, headers=auth, buffered=False)
        assert held.status_code == 200
        refused = client.post(execute, json={"inputs": {"text": "y"}, "stream": True}, headers=auth)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
        assert refused.json["error"]["code"] == "service_unavailable" and refused.json["error"]["retry_after"] == 2
        listed = client.get(f"/api/v1/workflows/{workflow_id}/executions", headers=auth).json
        assert listed["total"] == 1, "the refused stream started no run"
        Stream(held).rest()
        again = client.post(execute, json={"inputs": {"text": "z"}, "stream": True}, headers=auth, buffered=False)
        assert again.status_code == 200, "the slot came back when the stream closed"
        Stream(again).rest()
    finally:
        close_app(app)


def test_many_listeners_of_one_execution_each_get_every_event(api):
    execution_id = start(api, f"[[reply={WORDS}]] [[every=0.1]]")
    first = events_of(api, execution_id)
    first.until(lambda e: e.event == "node_started" and e.data["node_id"] == "gen")
    listeners = [events_of(api, execution_id) for _ in range(20)]  # queue mode: one Redis connection for all
    expected = [(e.id, e.event) for e in first.rest()]
    for listener in listeners:
        assert [(e.id, e.event) for e in listener.rest()] == expected
        assert text_of(listener.events, "gen") == WORDS


def test_a_settled_execution_whose_events_are_gone_answers_from_the_database(app, api, execution_mode, redis_url):
    workflow_id = create(api, model_definition("[[reply=kept in the database]] {{ in.text }}"))
    execution_id = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).json["id"]
    if execution_mode == "queue":  # expired, or trimmed away
        redis_lib.Redis.from_url(redis_url).delete(KEY.format(execution_id))
    else:  # held by another web process
        app.extensions["event_log"]._logs.pop(execution_id)
    events = events_of(api, execution_id).rest()
    assert [(e.id, e.event) for e in events[:-1]] == [(None, "node_finished")] * 3
    gen = next(e for e in events if e.data.get("node_id") == "gen")
    assert gen.data["output"]["text"] == "kept in the database" and gen.data["usage"]["total_tokens"] > 0
    assert events[-1].event == "execution_finished" and events[-1].data["status"] == "completed"


def test_a_settled_executions_log_is_kept_a_minute_not_an_hour(app, api, execution_mode, redis_url):
    """Every run writes its log, listener or not: once settled it goes soon (a late stream
    answers from the database), or an hour of runs' outputs would sit in memory."""
    workflow_id = create(api, model_definition("{{ in.text }}"))
    execution_id = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}}).json["id"]
    if execution_mode == "queue":
        assert 0 < redis_lib.Redis.from_url(redis_url).ttl(KEY.format(execution_id)) <= SETTLED_KEEP
    else:
        log = app.extensions["event_log"]
        kept = log._logs[execution_id]
        assert time.monotonic() - kept.touched >= log.ttl - SETTLED_KEEP  # swept within SETTLED_KEEP
    assert [e.event for e in events_of(api, execution_id).rest()][-1] == "execution_finished"  # still there now
