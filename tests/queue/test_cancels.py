"""A cancel, in local mode and in queue mode (a real ``rq worker``): no model call starts
after it, even one that was waiting to retry, and what a call in flight spends when it
answers after the cancel is counted.

"After the cancel" is after the execution's ``finished_at``, the moment the cancel was
recorded; the loopback model server notes when each call arrived (``started``).
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.definitions import model_definition
from tests.queue.test_recovery import api_for, create, execution, start
from tests.waiting import eventually, finished

AFTER_THE_WAIT = 1.5  # seconds past the wait the cancelled attempt was in, had it slept it out


def moment(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cancel(api, execution_id: str) -> dict:
    response = api.post(f"/executions/{execution_id}/cancel")
    assert response.status_code == 202, response.json
    return response.json


def calls_after(model, at: float) -> list[float]:
    return [call["started"] for call in model.calls if call["started"] > at]


@pytest.mark.parametrize(
    ("prompt", "calls_before", "wait"),
    [
        # Retries wait 0.375-0.5 s, then 0.75-1 s: the cancel comes 0.3 s into the second wait.
        ("[[fail=9:500]]", 2, 1.0),
        # The server asks for 3 s before the next try.
        ("[[fail=9:429]] [[retry_after=3]]", 1, 3.0),
    ],
    ids=["backoff", "retry-after"],
)
def test_a_cancel_during_a_retrys_wait_makes_no_call_after_it(mode_app, model, prompt, calls_before, wait):
    api = api_for(mode_app)
    workflow_id = create(api, model_definition(prompt + " {{ in.text }}", retries=5))
    execution_id = start(api, workflow_id, "cancel me while I wait")
    eventually(lambda: model.call_count >= calls_before, timeout=15, what="the retries to start")
    time.sleep(0.3)  # into the wait before the next attempt
    assert cancel(api, execution_id)["status"] == "cancelled"
    time.sleep(wait + AFTER_THE_WAIT)
    body = execution(api, execution_id)
    assert body["status"] == "cancelled"
    assert calls_after(model, moment(body["finished_at"])) == [], "a call started after the cancel"
    assert model.call_count == calls_before


def test_a_cancelled_slow_calls_tokens_are_counted_once_it_answers(mode_app, model):
    api = api_for(mode_app)
    workflow_id = create(api, model_definition("[[latency=4]] {{ in.text }}", retries=0))
    execution_id = start(api, workflow_id, "billed whether or not anyone waits")
    eventually(lambda: model.call_count == 1, timeout=15, what="the model call to start")
    time.sleep(1.5)
    assert cancel(api, execution_id)["status"] == "cancelled"
    assert finished(api, execution_id)["usage"]["total_tokens"] == 0, "nothing answered yet"

    counted = eventually(
        lambda: execution(api, execution_id),
        until=lambda body: body["usage"]["total_tokens"] > 0,
        timeout=15,
        what="the late answer's tokens",
    )
    assert counted["status"] == "cancelled", "the run stays cancelled; only its usage grows"
    gen = next(n for n in counted["nodes"] if n["node_id"] == "gen")
    assert gen["status"] == "cancelled"
    assert gen["usage"]["total_tokens"] == counted["usage"]["total_tokens"] > 0
    assert counted["usage"]["cost_usd"] > 0
    assert gen["usage"]["cost_usd"] == pytest.approx(counted["usage"]["cost_usd"])
    assert model.call_count == 1
