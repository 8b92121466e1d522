"""A process that runs executions starts its first sandbox process as it starts, not at
its first step (which waited ~3 s for it): a web process in local mode, an rq worker.
An app made for a test or a command starts none; and a sandbox imports only the engine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import WorkerProcess, close_app, make_app
from tests.queue.test_recovery import api_for, create
from tests.waiting import eventually, finished
from tests.web_server import Gunicorn

ROOT = Path(__file__).resolve().parent.parent
STEP = {  # a template that computes: it runs in a sandbox process
    "nodes": [
        {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
        {"id": "step", "type": "processing", "config": {"operation": "template", "template": "{{ in.text|upper }}"}},
        {"id": "out", "type": "output", "config": {"template": "{{ step.value }}"}},
    ],
    "connections": [{"from": "in", "to": "step"}, {"from": "step", "to": "out"}],
}


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def sandboxes_of(pid: int) -> list[int]:
    """The sandbox processes of ``pid``: children of its forkserver."""
    forkservers = [child for child in children(pid) if "multiprocessing.forkserver" in command(child)]
    return [sandbox for server in forkservers for sandbox in children(server)]


def wait_for_sandboxes(pid: int) -> list[int]:
    return eventually(lambda: sandboxes_of(pid), timeout=30, what=f"a sandbox process under {command(pid)}")


def test_a_web_process_in_local_mode_has_its_sandbox_before_its_first_step(sqlite_url, model):
    app = make_app(sqlite_url, model.base_url)
    api = api_for(app)
    workflow_id = create(api, STEP)
    server = Gunicorn(sqlite_url, model.base_url).start()
    try:
        (worker,) = children(server.process.pid)
        before = wait_for_sandboxes(worker)  # started with the process: no step has run
        execution_id = server.execute_async(api.key, workflow_id, "tea")
        assert finished(api, execution_id)["outputs"] == {"out": "TEA"}
        assert sandboxes_of(worker) == before  # the first step found it ready: none started for it
    finally:
        server.kill()
        close_app(app)


def test_a_web_process_in_queue_mode_starts_no_sandbox(sqlite_url, model, redis_url):
    server = Gunicorn(sqlite_url, model.base_url, REDIS_URL=redis_url).start()
    try:
        (worker,) = children(server.process.pid)
        time.sleep(2)  # what local mode needs to start one
        assert sandboxes_of(worker) == []  # it runs no executions
    finally:
        server.kill()


def test_an_rq_worker_has_its_sandbox_before_its_first_job(sqlite_url, redis_url, model):
    worker = WorkerProcess(sqlite_url, redis_url, model.base_url, "sandbox-start").wait_ready()
    try:
        wait_for_sandboxes(worker.process.pid)
    finally:
        worker.stop()


def test_an_app_made_for_a_test_or_a_command_starts_no_sandbox(sqlite_url, model):
    app = make_app(sqlite_url, model.base_url)
    try:
        assert app.test_client().get("/login").status_code == 200
        assert "sandboxes" not in app.extensions
    finally:
        close_app(app)


def test_a_sandbox_process_imports_the_engine_without_the_web_frameworks():
    """What the forkserver preloads for its sandboxes: the engine alone, not Flask and
    SQLAlchemy (~35 MB and a second more at its start, in every process that runs executions)."""
    probe = "import sys, webapp.engine.isolation; print(sorted({'flask', 'sqlalchemy'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


MAIN_SCRIPT = """
print("main script ran as", __name__, flush=True)
if __name__ == "__main__":
    from webapp.engine import runner
    from webapp.engine.definition import parse_definition
    from webapp.engine.expressions import Expressions
    from webapp.engine.isolation import Bounds, SandboxPool

    pool = SandboxPool(1, Bounds(256 * 2**20, 30, 200_000, 2**20))
    graph = parse_definition(DEFINITION, Expressions())
    print(runner.run(graph, {"text": "tea"}, isolation=pool).outputs, flush=True)
    pool.close()
"""


def test_a_sandbox_does_not_run_its_parents_main_script_again(tmp_path):
    """multiprocessing runs the parent's main script first in a process it starts: for an
    rq worker, the ``rq`` script (~17 MB of rq, redis and click in every sandbox)."""
    script = tmp_path / "main_script.py"
    script.write_text(f"DEFINITION = {STEP!r}\n{MAIN_SCRIPT}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["main script ran as __main__", "{'out': 'TEA'}"]
