"""Which nodes run their user code in a sandbox process, and what the sandbox does with it."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest

from tests.engine.test_runner import graph, text
from webapp.engine import runner
from webapp.engine.isolation import Bounds, SandboxPool, how_it_ended
from webapp.engine.status import NodeStatus, RunStatus

INPUT = {"id": "src", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}}
OUTPUT = {"id": "out", "type": "output", "config": {"template": "{{ step.value }}"}}


def one_step(template: str):
    """src → step (a processing template) → out."""
    return graph(
        [INPUT, text("step", template), OUTPUT], [{"from": "src", "to": "step"}, {"from": "step", "to": "out"}]
    )


@pytest.mark.parametrize(
    ("template", "isolated"),
    [
        ("{{ src.text }}", False),
        ("Dear {{ src.text }}, {{ src['text'] }}", False),
        ("{{ src.text if src.text == 'a' and not src.text else 'b' }}", False),
        ("{{ src.text | upper }}", True),
        ("{{ src.text ~ 'x' }}", True),
        ("{{ src.text * 3 }}", True),
        ("{% for c in src.text %}{{ c }}{% endfor %}", True),
        ("{{ src.text[::-1] }}", True),
        ("{{ src.text.upper() }}", True),
    ],
)
def test_only_templates_that_compute_run_in_a_sandbox(template, isolated):
    nodes = one_step(template).nodes
    assert nodes["step"].impl.isolated is isolated
    assert nodes["src"].impl.isolated is False  # checks inputs: no user code
    assert nodes["step"].impl.needs == {"src"}


@pytest.fixture
def pool():
    sandboxes = SandboxPool(
        1, Bounds(memory_bytes=256 * 2**20, step_timeout=30, max_chars=200_000, max_output_bytes=2**20)
    )
    yield sandboxes
    sandboxes.close()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_step_cut_short_by_the_deadline_has_its_sandbox_killed_and_replaced(pool):
    spin = one_step("{{ ([range(100000)]*30000)|map('sum')|sum }}")
    result = runner.run(spin, {"text": "x"}, limits=runner.Limits(timeout=1), isolation=pool)
    assert result.status == RunStatus.FAILED and result.error["code"] == "timeout"
    assert result.records["step"].status == NodeStatus.CANCELLED
    assert pool.alive == 0 and not pool.idle  # killed, not given back
    quick = one_step("{{ src.text * 2 }}")
    assert runner.run(quick, {"text": "ab"}, isolation=pool).records["step"].output == {"value": "abab"}
    (sandbox,) = pool.idle
    assert alive(sandbox.process.pid) and sandbox.process.pid != os.getpid()


def test_a_step_over_the_memory_cap_fails_as_resource_limit_and_the_sandbox_retires(pool):
    bomb = one_step("{{ ([[0]*100000]*100000)|map('list')|list|length }}")
    result = runner.run(bomb, {"text": "x"}, isolation=pool)
    assert result.records["step"].error["code"] == "resource_limit"
    assert pool.alive == 0  # its heap is not trusted again


def sandboxes() -> set[int]:
    return {child.pid for child in multiprocessing.active_children() if child.name == "sandbox"}


def busy_sandbox(others: set[int]) -> int:
    """The pid of the sandbox started since ``others`` were: an earlier test's pool may
    still hold an idle one, and killing that would leave the step running."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = sorted(sandboxes() - others)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("no sandbox process started")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV], ids=lambda s: s.name)
def test_a_sandbox_killed_by_a_signal_mid_step_is_reported_for_what_happened(pool, sig):
    """Not "over its memory bound" for any death: that one is a MemoryError, answered."""
    spin = one_step("{{ ([range(100000)]*30000)|map('sum')|sum }}")
    results, others = [], sandboxes()
    running = threading.Thread(target=lambda: results.append(runner.run(spin, {"text": "x"}, isolation=pool)))
    running.start()
    sandbox = busy_sandbox(others)
    time.sleep(0.3)  # into the step
    os.kill(sandbox, sig)
    running.join(30)
    (result,) = results
    error = result.records["step"].error
    assert error["code"] == "internal_error", error
    assert f"killed by {sig.name}, not by the worker" in error["message"]
    assert "memory" not in error["message"]
    assert pool.alive == 0  # replaced at the next step


@pytest.mark.parametrize(
    ("exitcode", "killed_here", "oom_kills", "code", "says"),
    [
        (-signal.SIGKILL, False, (4, 5), "resource_limit", "out-of-memory killer"),
        (-signal.SIGKILL, False, (5, 5), "internal_error", "killed by SIGKILL, not by the worker"),
        (-signal.SIGKILL, False, (None, None), "internal_error", "killed by SIGKILL, not by the worker"),
        (-signal.SIGKILL, True, (4, 5), "internal_error", "stopped by the worker"),
        (-signal.SIGABRT, False, (4, 5), "internal_error", "killed by SIGABRT"),
        (3, False, (4, 4), "internal_error", "exited (status 3)"),
    ],
)
def test_how_a_sandbox_ended_tells_the_oom_killer_a_signal_our_kill_and_an_exit_apart(
    exitcode, killed_here, oom_kills, code, says
):
    got_code, message = how_it_ended(exitcode, killed_here, *oom_kills)
    assert got_code == code and says in message
