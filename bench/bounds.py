"""``python -m bench.bounds``: the bounds of issue 31 this helper built, measured in one
process on loopback (no wrk, no PostgreSQL; nothing written to docs/):

* the editor's answer to drafts past MAX_NODES (the 3,000-node undo field, 34 KB
  compressed; a 136 KB JSON tab switched to the form view) and to the largest draft the
  bounds allow (100 nodes, 1,000 connections): time and page size;
* a trickled answer (1 byte / 0.5 s): how long after the attempt's timeout the client
  closes the connection, for an ``http_request`` and a model call through the SDK;
* the scheduler: with 1,000 due ``* * * * *`` schedules of one user and one of another,
  how long after the turn begins the other's run starts;
* nesting: one run whose map starts 8 child workflows, each mapping 8 more (two levels:
  64 model calls; three levels: 512), in local mode with the default bounds: the most
  model calls in flight at once (seen by the loopback model server), the most threads in
  the process, and how long the run took.

SECURITY.md quotes these figures; run it before and after a change to compare.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import re
import statistics
import tempfile
import time
import zlib
from datetime import timedelta

from .workflows import largest_allowed, long_chain


def chain_of_bytes(size: int) -> dict:
    """The shortest chain whose compact JSON is at least ``size`` bytes."""
    count = 3
    while len(json.dumps(long_chain(count), separators=(",", ":"))) < size:
        count += 50
    return long_chain(count)


def timed(call, repeats: int) -> tuple[float, object]:
    """The median of ``repeats`` timed calls after one to warm up (ms), and the last answer."""
    answer = call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), answer


def editor(repeats: int) -> list[str]:
    from flask_migrate import upgrade

    from tests.conftest import PASSWORD, make_user
    from webapp import create_app, init_migrations
    from webapp.config import TestConfig
    from webapp.extensions import db
    from webapp.models import User
    from webapp.services.definitions import definition_size
    from webapp.services.workflows import create_workflow

    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{tempfile.mkdtemp()}/bounds.db"
    app = create_app(config)
    with app.app_context():
        init_migrations(app)
        upgrade()
    owner, _ = make_user(app, "bounds@example.com")
    largest = largest_allowed(definition_size(app.config), app.config["MAX_DEFINITION_BYTES"])
    with app.app_context():
        user = db.session.get(User, owner.id)
        small = create_workflow(user, {"name": "small", **long_chain(3)}).id
        dense = create_workflow(user, {"name": "largest allowed", **largest}).id
    client = app.test_client()
    token = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')
    csrf = token.search(client.get("/login").text)[1]
    client.post("/login", data={"email": "bounds@example.com", "password": PASSWORD, "csrf_token": csrf})
    csrf = token.search(client.get("/settings").text)[1]
    htmx = {"HX-Request": "true", "X-CSRFToken": csrf}

    steps = [{"before": long_chain(3000), "after": long_chain(3)}]
    history = base64.urlsafe_b64encode(zlib.compress(json.dumps(steps, separators=(",", ":")).encode(), 9)).decode()
    typed = json.dumps(chain_of_bytes(136 * 1024), separators=(",", ":"))
    undo_form = {"_view": "form", "_undo": history, "action": "undo", "nodes[0].id": "in", "nodes[0].type": "input"}
    json_form = {"_view": "json", "definition_json": typed, "action": "view:form"}
    editor_path = f"/workflows/{small}/editor"
    cases = [
        (f"undo field of 3,000 chained nodes ({len(history) // 1024} KB)", editor_path, undo_form, htmx),
        (f"JSON tab of {len(typed) // 1024} KB, view:form (htmx)", f"/workflows/{small}/editor", json_form, htmx),
        (
            f"JSON tab of {len(typed) // 1024} KB, view:form (whole page)",
            f"/workflows/{small}/editor",
            {**json_form, "csrf_token": csrf},
            {},
        ),
        (f"JSON tab of {len(typed) // 1024} KB, check as typed", f"/workflows/{small}/editor/check", json_form, htmx),
    ]
    lines = []
    for label, path, form, headers in cases:
        took, answer = timed(lambda p=path, f=form, h=headers: client.post(p, data=f, headers=h), repeats)
        lines.append(f"{label}: {answer.status_code}, {took:.0f} ms, {len(answer.data) / 1024:.0f} KB")
    took, answer = timed(lambda: client.get(f"/workflows/{dense}"), repeats)
    lines.append(
        f"largest allowed draft ({len(largest['nodes'])} nodes, {len(largest['connections']):,} connections, "
        f"{len(json.dumps(largest)) // 1024} KB) page: {answer.status_code}, "
        f"{took:.0f} ms, {len(answer.data) / 1024:.0f} KB"
    )
    return lines


def drips() -> list[str]:
    from tests.engine.conftest import make_gateway
    from tests.http_server import ApiServer
    from tests.model_server import ModelServer
    from webapp.engine.errors import NodeError
    from webapp.engine.http_calls import HttpRequest
    from webapp.engine.model_calls import ModelRequest
    from webapp.outbound import Destinations, HttpClient

    def closed_after(server, call) -> float:
        """Seconds from the call's start until the server saw the connection close."""
        server.drips.clear()
        began = time.monotonic()
        with contextlib.suppress(NodeError):  # the timeout: the figure is when the connection closed
            call()
        while not server.drips:
            time.sleep(0.01)
        drip = server.drips[0]
        return drip.started + drip.closed_after - began if drip.closed_after is not None else float("inf")

    api, model = ApiServer().start(), ModelServer().start()
    client = HttpClient(Destinations.parse("127.0.0.1"), 1 << 20)
    gateway = make_gateway(model.base_url, retries=0)
    lines = []
    for timeout in (1, 2, 5):
        for where, head in (("body", ""), ("headers", "&head=1")):
            url = api.url(f"/drip?every=0.5&n=200{head}")
            request = HttpRequest("GET", url, {}, {}, timeout, 0)
            after = closed_after(api, lambda r=request: client.send(r))
            lines.append(f"http_request, timeout {timeout} s, trickled {where}: closed at {after:.3f} s")
        request = ModelRequest(None, (("user", "[[drip=0.5]] hi"),), timeout=timeout, cache=False)
        after = closed_after(model, lambda r=request: gateway.complete(r))
        lines.append(f"model call (openai SDK), timeout {timeout} s: closed at {after:.3f} s")
    api.stop()
    model.stop()
    return lines


def scheduler(count: int) -> list[str]:
    from flask_migrate import upgrade
    from sqlalchemy import select, update

    from tests.conftest import make_user
    from webapp import create_app, init_migrations
    from webapp.config import TestConfig
    from webapp.extensions import db
    from webapp.models import Execution, Trigger, User, utcnow
    from webapp.runs.schedules import fire_due
    from webapp.services.triggers import create_trigger
    from webapp.services.workflows import create_workflow

    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{tempfile.mkdtemp()}/schedules.db"
    config.MAX_TRIGGERS_PER_USER = 0  # the bound would stop the one user at 100
    app = create_app(config)
    with app.app_context():
        init_migrations(app)
        upgrade()
    busy, _ = make_user(app, "busy@example.com")
    other, _ = make_user(app, "other@example.com")
    echo = long_chain(3)
    with app.app_context():
        busy, other = db.session.get(User, busy.id), db.session.get(User, other.id)
        busy_workflow = create_workflow(busy, {"name": "busy", **echo}).id
        other_workflow = create_workflow(other, {"name": "other", **echo}).id
        schedule = {"type": "schedule", "cron": "* * * * *", "inputs": {"text": "x"}}
        for _ in range(count):
            create_trigger(busy, busy_workflow, schedule)
        theirs, _ = create_trigger(other, other_workflow, schedule)
        db.session.execute(update(Trigger).values(next_run_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        began, started = utcnow(), time.perf_counter()
        fired = fire_due()
        took = time.perf_counter() - started
        at = db.session.scalar(select(Execution.created_at).where(Execution.trigger_id == theirs.id))
    return [
        f"{count:,} due schedules of one user and 1 of another (SQLite, local mode): {fired} fired in {took:.1f} s; "
        f"the other's run started {(at - began).total_seconds():.2f} s into the turn"
    ]


def nesting(levels: tuple[int, ...], width: int, latency: float) -> list[str]:
    import threading

    from flask_migrate import upgrade

    from tests.conftest import Api, make_user
    from tests.model_server import ModelServer
    from webapp import create_app, init_migrations
    from webapp.config import TestConfig

    model = ModelServer(latency=latency).start()
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{tempfile.mkdtemp()}/nesting.db"
    config.OPENAI_BASE_URL = model.base_url
    app = create_app(config)
    with app.app_context():
        init_migrations(app)
        upgrade()
    user, key = make_user(app, "nesting@example.com")
    api = Api(app.test_client(), user, key)

    def create(node: dict) -> str:
        definition = {
            "nodes": [
                {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
                {"id": "each", "type": "map", "config": {"items": f"{{{{ range({width}) | list }}}}", "node": node}},
                {"id": "out", "type": "output", "config": {"fields": {"n": "{{ each.values | length }}"}}},
            ],
            "connections": [{"from": "in", "to": "each"}, {"from": "each", "to": "out"}],
        }
        return api.post("/workflows", json={"name": "nest", **definition}).json["id"]

    most_threads = 0
    done = threading.Event()

    def count_threads() -> None:
        nonlocal most_threads
        while not done.wait(0.02):
            most_threads = max(most_threads, threading.active_count())

    lines = []
    leaf = create({"type": "ai_model", "config": {"prompt": "{{ in.text }}/{{ item }}", "cache": False}})
    for depth in levels:
        workflow_id = leaf
        for _ in range(depth - 1):
            call = {"workflow_id": workflow_id, "inputs": {"text": "{{ in.text }}/{{ item }}"}}
            workflow_id = create({"type": "workflow", "config": call})
        model.reset()
        model.latency = latency
        most_threads, baseline = 0, threading.active_count()
        done.clear()
        sampler = threading.Thread(target=count_threads, daemon=True)
        sampler.start()
        started = time.perf_counter()
        execution_id = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "x"}, "async": True})
        execution_id = execution_id.json["execution_id"]
        while (body := api.get(f"/executions/{execution_id}").json)["status"] in ("queued", "running"):
            time.sleep(0.05)
        took = time.perf_counter() - started
        done.set()
        sampler.join()
        lines.append(
            f"{depth} levels of {width} ({model.call_count} calls of {latency:g} s; MAX_RUNNING_PER_USER "
            f"{config.MAX_RUNNING_PER_USER}, NODE_CONCURRENCY {config.NODE_CONCURRENCY}): {body['status']}, "
            f"{model.most_in_flight} calls in flight at most, {most_threads - baseline} threads more at most, "
            f"{took:.1f} s"
        )
    model.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bounds", description=__doc__.split("\n")[0])
    parser.add_argument("parts", nargs="*", metavar="PART", help="editor, drips, scheduler, nesting (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--schedules", type=int, default=1000)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # migrations and the scheduler talk; the figures are what matters
    measures = {
        "editor": lambda: editor(args.repeats),
        "drips": drips,
        "scheduler": lambda: scheduler(args.schedules),
        "nesting": lambda: nesting((2, 3), width=8, latency=0.5),
    }
    unknown = [part for part in args.parts if part not in measures]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(measures)}")
    for part in args.parts or list(measures):
        print(f"== {part} ==", flush=True)
        for line in measures[part]():
            print(line, flush=True)


if __name__ == "__main__":
    main()
