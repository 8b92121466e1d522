"""Turns at the app (webapp/admission.py): first come, first served; at most so many at
once; and a request waiting on something outside the process does not hold one."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import close_app, make_app, make_user
from tests.definitions import model_definition, workflow_body
from tests.waiting import eventually
from tests.web_server import Gunicorn
from webapp.admission import Admission, Turns, aside, turn


def test_a_freed_turn_goes_to_the_longest_waiter_and_nobody_barges_in():
    turns = Turns(1)
    turns.take()
    served: list[int] = []

    def visitor(number: int) -> None:
        turns.take()
        served.append(number)
        turns.give_back()

    visitors = []
    for number in range(5):  # each queued before the next arrives: a known order
        visitors.append(threading.Thread(target=visitor, args=(number,)))
        visitors[-1].start()
        eventually(lambda n=number: turns.waiting() == n + 1, timeout=5, interval=0.005)
    turns.give_back()
    turns.take()  # at once, while the first in line may not have run yet: still last in line
    assert served == [0, 1, 2, 3, 4]
    turns.give_back()
    for thread in visitors:
        thread.join()


def test_no_more_requests_than_turns_run_the_app_at_once():
    inside, most = 0, 0
    lock = threading.Lock()

    def slow_app(environ, start_response):
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)
        with lock:
            inside -= 1
        start_response("200 OK", [])
        return [b"ok"]

    admitted = Admission(slow_app, 2)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: admitted({}, lambda *a: None), range(16)))
    assert answers == [[b"ok"]] * 16
    assert most == 2


def test_a_request_waiting_on_outside_work_leaves_its_turn_to_others(sqlite_url, model):
    """One turn in the deployed server: a sync execute waiting on a slow model, and a
    provider's model list slow to come, each let another request through meanwhile."""
    app = make_app(sqlite_url, model.base_url)
    _, key = make_user(app, "turns@example.com")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body = workflow_body(definition=model_definition())
    workflow_id = app.test_client().post("/api/v1/workflows", json=body, headers=headers).json["id"]
    server = Gunicorn(sqlite_url, model.base_url, ACTIVE_REQUESTS=1).start()

    def call(path: str, body: dict | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{server.url}/api/v1{path}", data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)

    def answered_while(slow, started) -> None:
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(slow)
            eventually(started, timeout=5, interval=0.005)
            assert call(f"/workflows/{workflow_id}")[0] == 200
            assert not waiting.done(), "the other request had to wait for this one"
            assert waiting.result()[0] == 200

    try:
        text = f"[[latency=2]] {uuid.uuid4()}"
        answered_while(
            lambda: call(f"/workflows/{workflow_id}/execute", {"inputs": {"text": text}}),
            lambda: any(text in json.dumps(request) for request in model.calls),
        )
        model.latency = 2.0
        answered_while(lambda: call("/providers/default/models"), lambda: model.model_lists > 0)
    finally:
        server.kill()
        close_app(app)


def test_a_turn_is_given_back_once_however_deep_the_waits_nest():
    turns = Turns(1)
    with turn(turns):  # the thread's own, as the middleware or an executor takes it
        with aside(), aside():
            turns.take()  # free while the thread waits
            queued = threading.Thread(target=lambda: (turns.take(), turns.give_back()))
            queued.start()
            eventually(
                lambda: turns.waiting() == 1, timeout=5, interval=0.005
            )  # and there was one turn to take, not two
            turns.give_back()
            queued.join(timeout=5)
        other = threading.Thread(target=lambda: (turns.take(), turns.give_back()))
        other.start()
        eventually(lambda: turns.waiting() == 1, timeout=5, interval=0.005)  # the thread has its turn back
    other.join(timeout=5)
    assert not other.is_alive() and turns.waiting() == 0


class _Cut(Exception):
    pass


def test_a_wait_for_a_turn_cut_short_by_a_signal_leaves_the_line():
    """rq stops a worker by raising in its main thread, wherever it is: a thread cut short
    while it waits for a turn must not leave a place in line that a turn is handed to."""

    def cut(signum, frame):
        raise _Cut

    turns = Turns(1)
    turns.take()  # another's
    previous = signal.signal(signal.SIGALRM, cut)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(_Cut):
            turns.take()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert turns.waiting() == 0
    turns.give_back()
    with ThreadPoolExecutor(1) as pool:  # the freed turn is there to take, not handed to the one gone
        pool.submit(turns.take).result(timeout=5)
