"""A user's regular expression never costs the web process its memory: it is held to
static bounds as it is saved and checked, and compiled only in a sandbox process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from webapp.engine import patterns

BOMB = "(?:(?:a{100}){100}){300}"  # the issue's: the web process grew by 791 MB


def regex_workflow(pattern: str) -> dict:
    return {
        "name": "regex",
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {
                "id": "find",
                "type": "processing",
                "config": {"operation": "regex_extract", "input": "{{ in.text }}", "pattern": pattern},
            },
            {"id": "out", "type": "output", "config": {"template": "{{ find.value }}"}},
        ],
        "connections": [{"from": "in", "to": "find"}, {"from": "find", "to": "out"}],
    }


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def peak_growth_mb(action: Callable[[], object]) -> tuple[object, float]:
    """What ``action`` returned, and how far this process's RSS rose above its start meanwhile."""
    before, peak, done = rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = action()
    finally:
        done.set()
        sampler.join()
    return result, max(peak[0], rss_mb()) - before


def test_a_regex_bomb_is_refused_at_create_and_update_without_the_server_growing(api):
    created = api.post("/workflows", json=regex_workflow("a"))
    assert created.status_code == 201
    workflow_id = created.get_json()["id"]
    patterns.compiled.cache_clear()

    def attack():
        refused = api.post("/workflows", json=regex_workflow(BOMB))
        changed = api.put(f"/workflows/{workflow_id}", json=regex_workflow(BOMB))
        return refused, changed

    started = time.monotonic()
    (refused, changed), grown = peak_growth_mb(attack)
    assert time.monotonic() - started < 5  # measured: a few ms (SECURITY.md)
    assert grown < 50
    assert refused.status_code == 422 and changed.status_code == 422
    (detail,) = refused.get_json()["error"]["details"]
    assert (detail["path"], detail["code"]) == ("nodes[1].config.pattern", "invalid_value")
    assert "repeats too much" in detail["message"]
    assert patterns.compiled.cache_info().currsize == 0  # nothing compiled here


def test_a_regex_step_runs_in_a_sandbox_and_its_result_comes_back(api):
    workflow_id = api.post("/workflows", json=regex_workflow(r"#(\d+)")).get_json()["id"]
    patterns.compiled.cache_clear()
    run = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "order #1234"}})
    assert run.status_code == 200 and run.get_json()["outputs"] == {"out": "#1234"}
    assert patterns.compiled.cache_info().currsize == 0  # the web process compiled nothing
