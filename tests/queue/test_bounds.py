"""User work runs inside hard bounds, in local mode and in queue mode (a real ``rq worker``):
memory, CPU time, cancel, concurrency per worker and a fair share per user.

"The server" below is the process that runs executions: this test process in local
mode, the worker process in queue mode. Its memory and CPU are read from ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import update

from tests.conftest import FAST_RECOVERY, close_app, make_app
from tests.definitions import model_definition
from tests.queue.test_recovery import LOST_BOUND, api_for, create, execution, node_status, start
from tests.waiting import eventually, finished
from webapp.extensions import db
from webapp.models import Execution, NodeRun
from webapp.runs import start_recovery

CPU_BOMB = "{{ ([range(100000)]*30000)|map('sum')|sum }}"
MEMORY_BOMBS = (
    # The issue's: refused at once, lists are immutable in the sandbox.
    "{% set a = [0] %}{% for i in range(27) %}{{ a.extend(a) or '' }}{% endfor %}{{ a|length }}",
    # Slips past every cheap guard: stopped by the sandbox process's memory cap.
    "{{ ([[0]*100000]*100000)|map('list')|list|length }}",
)


def step_definition(template: str) -> dict:
    """input → processing (template) → output."""
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {"id": "step", "type": "processing", "config": {"operation": "template", "template": template}},
            {"id": "out", "type": "output", "config": {"template": "{{ step.value }}"}},
        ],
        "connections": [{"from": "in", "to": "step"}, {"from": "step", "to": "out"}],
    }


@pytest.fixture
def server(execution_mode, database_url, model, request):
    """``server(**settings)`` → (app, pid of the process that runs the executions)."""
    apps = []

    def start_server(**settings):
        if execution_mode == "local":
            app = make_app(database_url, model.base_url, **{**FAST_RECOVERY, **settings})
            apps.append(app)
            return app, os.getpid()
        queue_env = request.getfixturevalue("queue_env")
        worker = queue_env.worker(**settings)
        return queue_env.app(**settings), worker.process.pid

    yield start_server
    for app in apps:
        close_app(app)


# -- /proc ---------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def descendants(pid: int) -> list[int]:
    """The process and everything it started (the forkserver and its sandboxes)."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                stack += [int(child) for child in (task / "children").read_text().split()]
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def cpu_busy(pid: int, window: float = 1.0) -> float:
    """CPU seconds the server and its children burn in ``window`` seconds."""
    before = cpu_seconds(descendants(pid))
    time.sleep(window)
    return cpu_seconds(descendants(pid)) - before


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def warm_up(api) -> None:
    """One run through a sandbox process, so what is measured next is the bomb alone."""
    body = finished(api, start(api, create(api, step_definition("{{ 6 * 7 }}")), "warm"))
    assert body["status"] == "completed" and body["outputs"] == {"out": 42}


# -- memory --------------------------------------------------------------------------------


@pytest.mark.parametrize("bomb", MEMORY_BOMBS, ids=["extend", "map-list"])
def test_a_memory_bomb_fails_its_node_and_the_server_does_not_grow(server, bomb):
    app, pid = server()
    api = api_for(app)
    warm_up(api)
    before = rss_mb(pid)
    body = finished(api, start(api, create(api, step_definition(bomb)), "bomb"), timeout=30)
    assert body["status"] == "failed"
    step = next(n for n in body["nodes"] if n["node_id"] == "step")
    assert step["error"]["code"] in ("resource_limit", "expression_error")
    if "map" in bomb:
        assert step["error"]["code"] == "resource_limit"
    assert rss_mb(pid) - before < 100
    # The sandbox that died is replaced: the next run works.
    warm_up(api)


# -- CPU: the deadline and cancel stop the work ---------------------------------------------


def test_the_deadline_stops_a_cpu_bomb_mid_template(server):
    app, pid = server(EXECUTION_TIMEOUT=6)
    api = api_for(app)
    warm_up(api)
    body = finished(api, start(api, create(api, step_definition(CPU_BOMB)), "spin"), timeout=20)
    assert body["status"] == "failed" and body["error"]["code"] == "timeout"
    ran = (moment(body["finished_at"]) - moment(body["started_at"])).total_seconds()
    assert 6 <= ran < 6 + 3, f"settled {ran:.1f} s after it started"
    step = next(n for n in body["nodes"] if n["node_id"] == "step")
    assert step["status"] == "cancelled"
    assert cpu_busy(pid) < 0.3, "the computation is gone"


def test_cancel_stops_a_cpu_bomb_mid_template(server):
    app, pid = server()
    api = api_for(app)
    warm_up(api)
    execution_id = start(api, create(api, step_definition(CPU_BOMB)), "spin")
    eventually(lambda: node_status(api, execution_id, "step") == "running", timeout=15, what="the step to start")
    time.sleep(1.0)
    assert cpu_busy(pid, 0.5) > 0.2, "the bomb is computing"
    assert api.post(f"/executions/{execution_id}/cancel").status_code == 202
    cancelled_at = time.monotonic()
    eventually(
        lambda: node_status(api, execution_id, "step") == "cancelled", timeout=5, what="the step to be cancelled"
    )
    assert time.monotonic() - cancelled_at < 3
    assert execution(api, execution_id)["status"] == "cancelled"
    assert cpu_busy(pid) < 0.3, "the computation is gone"


def test_a_step_is_bounded_by_its_own_time_limit_and_the_run_goes_on(server):
    app, _ = server(SANDBOX_STEP_TIMEOUT=1.5)
    api = api_for(app)
    definition = step_definition(CPU_BOMB)
    definition["nodes"][1]["on_error"] = "continue"
    definition["nodes"][2]["config"]["template"] = "{% if step %}{{ step.value }}{% else %}no value{% endif %}"
    body = finished(api, start(api, create(api, definition), "spin"), timeout=20)
    step = next(n for n in body["nodes"] if n["node_id"] == "step")
    assert step["status"] == "failed" and step["error"]["code"] == "resource_limit"
    assert body["status"] == "completed"  # on_error: continue, with a fresh sandbox for the output
    assert body["outputs"] == {"out": "no value"}


# -- concurrency per worker, fair share per user ----------------------------------------------


def intervals(body: dict, node_id: str) -> tuple[datetime, datetime]:
    node = next(n for n in body["nodes"] if n["node_id"] == node_id)
    return moment(node["started_at"]), moment(node["finished_at"])


def test_one_process_runs_8_executions_at_once(server, model):
    app, _ = server(MAX_RUNNING_PER_USER=8)
    assert_model_calls_overlap(api_for(app), 8, latency=3)
    assert model.call_count == 8


def assert_model_calls_overlap(api, count: int, latency: float) -> None:
    """``count`` runs of one slow model call each: all complete, every call in flight together."""
    workflow_id = create(api, model_definition(f"[[latency={latency:g}]] {{{{ in.text }}}}", cache=False))
    ids = [start(api, workflow_id, f"run {i}") for i in range(count)]
    bodies = [finished(api, execution_id, timeout=40) for execution_id in ids]
    assert all(body["status"] == "completed" for body in bodies)
    spans = [intervals(body, "gen") for body in bodies]
    assert max(s for s, _ in spans) < min(f for _, f in spans), "every model call overlapped every other"


def test_a_workers_runs_take_turns_and_one_waiting_on_its_model_leaves_its_turn(queue_env, model):
    """One turn in the worker: never two of its threads at work at once (its loop
    included), and yet six model calls in flight together."""
    queue_env.worker("tests.queue.workers.TurnCountingWorker", MAX_RUNNING_PER_USER=0, WORKER_ACTIVE_RUNS=1)
    assert_model_calls_overlap(api_for(queue_env.app()), 6, latency=2)
    counts = Redis.from_url(queue_env.redis_url).hgetall(f"turns:{queue_env.queue}")
    assert int(counts[b"peak"]) == 1
    assert int(counts[b"taken"]) >= 6 * 3, "each job's hand-over, each run's start and its return from the model"


def test_a_step_computing_in_its_sandbox_leaves_the_workers_turn_to_other_runs(queue_env):
    """One turn in the worker: a user's step computing for long does not hold it."""
    queue_env.worker(MAX_RUNNING_PER_USER=0, WORKER_ACTIVE_RUNS=1)
    api = api_for(queue_env.app())
    warm_up(api)
    bomb = start(api, create(api, step_definition(CPU_BOMB)), "spin")
    eventually(lambda: node_status(api, bomb, "step") == "running", timeout=15, what="the step to start")
    quick = finished(api, start(api, create(api, step_definition("{{ 6 * 7 }}")), "quick"), timeout=15)
    assert quick["status"] == "completed" and quick["outputs"] == {"out": 42}
    assert execution(api, bomb)["status"] == "running", "the quick run finished while the step computed"
    assert api.post(f"/executions/{bomb}/cancel").status_code == 202
    assert finished(api, bomb)["status"] == "cancelled"


def most_at_once(spans: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(f, -1) for _, f in spans], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def test_one_users_24_runs_leave_another_users_run_starting_at_once(server, model):
    app, _ = server(MAX_RUNNING_PER_USER=4)
    alice, bob = api_for(app), api_for(app, "bob@example.com")
    slow = create(alice, model_definition("[[latency=1.5]] {{ in.text }}", cache=False))
    alices = [start(alice, slow, f"alice {i}") for i in range(24)]
    eventually(
        lambda: execution(alice, alices[0])["status"] == "running", timeout=15, what="alice's first run to start"
    )
    bobs = start(bob, create(bob, model_definition("{{ in.text }}", cache=False)), "bob")
    body = finished(bob, bobs, timeout=15)
    assert body["status"] == "completed"
    still_queued = [i for i in alices if execution(alice, i)["status"] == "queued"]
    assert len(still_queued) >= 12, "bob's run did not wait behind alice's"
    bodies = [finished(alice, i, timeout=60) for i in alices]
    assert all(b["status"] == "completed" for b in bodies)
    spans = [(moment(b["started_at"]), moment(b["finished_at"])) for b in bodies]
    assert most_at_once(spans) <= 4
    # In order: the runs held back start as alice's runs end, oldest first, each within
    # one round of four of its place (the claims of one round race on the threads and
    # workers that run them: a run may lose the first slots to the next one and wake first).
    started = sorted(range(24), key=lambda i: spans[i][0])
    assert all(abs(started.index(i) - i) <= 3 for i in range(24)), started
    assert set(started[-4:]) == {20, 21, 22, 23}


# -- a killed worker ------------------------------------------------------------------------


def test_a_killed_worker_with_10_runs_in_flight_loses_none_and_runs_none_twice(queue_env, model):
    worker = queue_env.worker(MAX_RUNNING_PER_USER=0)
    app = queue_env.app(REAPER_ENABLED=True)
    start_recovery(app)  # the web process's reaper: no other worker is left
    api = api_for(app)
    workflow_id = create(api, model_definition("[[latency=30]] {{ in.text }}", cache=False))
    ids = [start(api, workflow_id, f"run {i}") for i in range(10)]
    eventually(lambda: model.call_count == 10, timeout=20, what="10 model calls in flight")
    worker.signal(signal.SIGKILL)
    bodies = [finished(api, i, timeout=LOST_BOUND + 5) for i in ids]
    assert all(b["status"] == "failed" and b["error"]["code"] == "worker_lost" for b in bodies)
    queue_env.worker(MAX_RUNNING_PER_USER=0)  # its reaper passes too: nothing is run again
    time.sleep(FAST_RECOVERY["REAPER_INTERVAL"] * 4)
    assert model.call_count == 10
    assert all(execution(api, i)["status"] == "failed" for i in ids)


def test_the_reaper_wakes_a_held_back_run_whose_wake_was_missed(server, model):
    """As a process that died between a run's end and its commit would leave it: a run
    held back for its owner, with nothing of theirs running to wake it."""
    app, _ = server(MAX_RUNNING_PER_USER=1, REAPER_ENABLED=True)
    start_recovery(app)
    api = api_for(app)
    execution_id = start(api, create(api, model_definition("{{ in.text }}", cache=False)), "held")
    assert finished(api, execution_id)["status"] == "completed"
    with app.app_context():
        db.session.execute(
            update(Execution)
            .where(Execution.id == execution_id)
            .values(status="queued", waiting_since=Execution.created_at, started_at=None, finished_at=None)
        )
        db.session.execute(update(NodeRun).where(NodeRun.execution_id == execution_id).values(status="pending"))
        db.session.commit()
    body = finished(api, execution_id, timeout=15)
    assert body["status"] == "completed" and model.call_count == 2


# -- nesting: child runs hold places too (issue 31, findings 4 and 5) ----------------------


def map_of(inner: dict, width: int) -> dict:
    """input(text) → a map running ``inner`` (a node without id) on each of ``width`` items → output."""
    items = f"{{{{ range({width}) | list }}}}"
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {"id": "each", "type": "map", "config": {"items": items, "node": inner}},
            {"id": "out", "type": "output", "config": {"fields": {"n": "{{ each.values | length }}"}}},
        ],
        "connections": [{"from": "in", "to": "each"}, {"from": "each", "to": "out"}],
    }


def nested_maps(api, levels: int, width: int, latency: float) -> str:
    """A workflow whose map runs ``width`` child workflows, each of which does the same,
    ``levels`` deep; the deepest maps ``width`` slow model calls."""
    prompt = f"[[latency={latency:g}]] {{{{ in.text }}}}/{{{{ item }}}}"
    workflow_id = create(api, map_of({"type": "ai_model", "config": {"prompt": prompt, "cache": False}}, width))
    for _ in range(levels - 1):
        call = {"workflow_id": workflow_id, "inputs": {"text": "{{ in.text }}/{{ item }}"}}
        workflow_id = create(api, map_of({"type": "workflow", "config": call}, width))
    return workflow_id


@pytest.mark.parametrize("levels", [2, 3])
def test_nesting_never_puts_more_than_the_users_share_of_model_calls_in_flight(server, model, levels):
    """width ** levels model calls; at most MAX_RUNNING_PER_USER runs of the user compute at
    once however deep (so at most that × NODE_CONCURRENCY calls), and with one place the
    nesting still finishes (a parent lends its place to its children)."""
    cap, concurrency, width = 2, 4, 4
    app, _ = server(MAX_RUNNING_PER_USER=cap, NODE_CONCURRENCY=concurrency)
    api = api_for(app)
    body = finished(api, start(api, nested_maps(api, levels, width, latency=0.5), "x"), timeout=90)
    assert body["status"] == "completed", body["error"]
    assert model.call_count == width**levels
    assert concurrency <= model.most_in_flight <= cap * concurrency


def test_nesting_three_deep_finishes_with_one_place(server, model):
    app, _ = server(MAX_RUNNING_PER_USER=1, NODE_CONCURRENCY=2)
    api = api_for(app)
    body = finished(api, start(api, nested_maps(api, 3, 2, latency=0.2), "x"), timeout=60)
    assert body["status"] == "completed", body["error"]
    assert model.call_count == 8 and model.most_in_flight <= 2


def test_a_run_a_childs_end_wakes_is_started(server, model):
    """A parent whose child holds one of the owner's four places, and five more runs: each
    run held back is started when a place comes back, the one a child's end woke too
    (with no reaper to make up for a lost wake)."""
    app, _ = server(MAX_RUNNING_PER_USER=4, REAPER_ENABLED=False)
    api = api_for(app)
    child = create(api, model_definition("[[latency=1]] child {{ in.text }}", cache=False))
    call = {"workflow_id": child, "inputs": {"text": "{{ in.text }}"}}
    parent = start(api, create(api, map_of({"type": "workflow", "config": call}, 1)), "parent")
    eventually(lambda: model.call_count == 1, timeout=15, what="the child's model call")
    slow = create(api, model_definition("[[latency=1]] {{ in.text }}", cache=False))
    others = [start(api, slow, f"run {i}") for i in range(5)]
    bodies = [finished(api, execution_id, timeout=30) for execution_id in [parent, *others]]
    assert [b["status"] for b in bodies] == ["completed"] * 6, [b["error"] for b in bodies]
    assert model.most_in_flight <= 4


def test_a_parents_own_model_call_waits_for_its_place_while_its_child_computes(server, model):
    """One place, two calls at once per run: a parent's own slow call beside a child mapping
    two calls. Each side holds the one place in turn, never both together."""
    app, _ = server(MAX_RUNNING_PER_USER=1, NODE_CONCURRENCY=2)
    api = api_for(app)
    child = nested_maps(api, 1, 2, latency=0.5)
    definition = map_of({"type": "workflow", "config": {"workflow_id": child, "inputs": {"text": "child"}}}, 1)
    prompt = "[[latency=0.5]] own {{ in.text }}"
    definition["nodes"].append({"id": "own", "type": "ai_model", "config": {"prompt": prompt, "cache": False}})
    definition["connections"] += [{"from": "in", "to": "own"}, {"from": "own", "to": "out"}]
    body = finished(api, start(api, create(api, definition), "x"), timeout=30)
    assert body["status"] == "completed", body["error"]
    assert model.call_count == 3 and model.most_in_flight <= 2


def test_a_child_waiting_for_a_place_ends_cancelled_with_its_parent(server, model):
    """One place: the first of two children runs (its parent lent it the place), the second
    waits ``queued``; cancelling the parent ends both, the second without a model call."""
    app, _ = server(MAX_RUNNING_PER_USER=1, NODE_CONCURRENCY=2)
    api = api_for(app)
    child = create(api, model_definition("[[latency=20]] {{ in.text }}", cache=False))
    call = {"workflow_id": child, "inputs": {"text": "{{ in.text }} {{ item }}"}}
    parent = start(api, create(api, map_of({"type": "workflow", "config": call}, 2)), "parent")

    def one_running_one_waiting() -> list[dict] | None:
        children = api.get(f"/workflows/{child}/executions").json["executions"]
        return children if sorted(c["status"] for c in children) == ["queued", "running"] else None

    children = eventually(one_running_one_waiting, timeout=15, what="one child running, one queued")
    eventually(lambda: model.call_count == 1, timeout=15, what="the first child's model call")
    assert api.post(f"/executions/{parent}/cancel").status_code == 202
    assert finished(api, parent)["status"] == "cancelled"
    assert [finished(api, c["id"])["status"] for c in children] == ["cancelled", "cancelled"]
    assert model.call_count == 1


def test_the_reaper_leaves_a_child_waiting_for_a_place_to_its_parent(server, model):
    """A child queued for longer than the reaper's grace, waiting for a place in its parent's
    thread: never enqueued or settled by the reaper, run once, inside its parent."""
    app, _ = server(MAX_RUNNING_PER_USER=1, NODE_CONCURRENCY=2, REAPER_ENABLED=True)
    start_recovery(app)
    api = api_for(app)
    child = create(api, model_definition("[[latency=7]] {{ in.text }}", cache=False))
    call = {"workflow_id": child, "inputs": {"text": "{{ in.text }} {{ item }}"}}
    body = finished(api, start(api, create(api, map_of({"type": "workflow", "config": call}, 2)), "p"), timeout=40)
    assert body["status"] == "completed", body["error"]
    children = api.get(f"/workflows/{child}/executions").json["executions"]
    assert [c["status"] for c in children] == ["completed", "completed"] and model.call_count == 2
    assert all(c["parent_execution_id"] == body["id"] for c in children)
