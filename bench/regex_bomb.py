"""The issue-31 regex bomb against a real server: how long it takes, and how far the
web processes' memory rises.

``python -m bench.regex_bomb [CHECKOUT …]`` (default: this one) starts local mode on
SQLite (gunicorn, 2 × gthread(8)) from each checkout in turn and POSTs one workflow
whose ``regex_extract`` pattern is ``(?:(?:a{100}){100}){300}``: the answer's status
and time, and the largest rise of a web process's RSS meanwhile (sampled every 5 ms).
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from .machine import descendants, memory_kb
from .stack import APP_ROOT, ModelServerProcess, Stack

BOMB = "(?:(?:a{100}){100}){300}"


def definition(pattern: str) -> dict:
    find = {"operation": "regex_extract", "input": "{{ in.text }}", "pattern": pattern}
    return {
        "name": "regex",
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {"id": "find", "type": "processing", "config": find},
            {"id": "out", "type": "output", "config": {"template": "{{ find.value }}"}},
        ],
        "connections": [{"from": "in", "to": "find"}, {"from": "find", "to": "out"}],
    }


class PeakRss:
    """The highest RSS of each process, sampled in a thread while the block runs."""

    def __init__(self, pids: list[int]) -> None:
        self.start = {pid: memory_kb(pid)[0] for pid in pids}
        self.peak = dict(self.start)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.done.is_set():
            for pid in self.peak:
                self.peak[pid] = max(self.peak[pid], memory_kb(pid)[0])
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.2)
        self.done.set()
        self.thread.join()

    def grown_mb(self) -> float:
        return max(self.peak[pid] - self.start[pid] for pid in self.peak) / 1024


def one(root: Path, model_url: str) -> str:
    with Stack("sqlite", model_url, "local", app_root=root) as stack:
        for _ in range(4):  # every web process has loaded the app and validated a definition
            stack.api.create_workflow("warm", definition("a"))
        web = sorted(descendants(stack.web.pid) - {stack.web.pid})
        web = [pid for pid in web if memory_kb(pid)[0] > 50_000]  # the gunicorn workers, not their sandboxes
        with PeakRss(web) as rss:
            started = time.monotonic()
            status, _ = stack.api.call("POST", "/workflows", definition(BOMB))
            took = time.monotonic() - started
        return f"{root}: {status} in {took * 1000:.0f} ms, a web process's RSS rose {rss.grown_mb():.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkouts", nargs="*", type=Path, default=[APP_ROOT])
    args = parser.parse_args()
    model = ModelServerProcess()
    try:
        for root in args.checkouts:
            print(one(root.resolve(), model.base_url), flush=True)
    finally:
        model.stop()


if __name__ == "__main__":
    main()
