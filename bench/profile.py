"""Profiles of the hot paths, with py-spy (``pip install py-spy``; not a requirement).

* web, async execute (queue mode): gunicorn's workers while wrk POSTs async executes;
* worker, ``run_execution``: the rq worker during that same load;
* web, sync execute (local mode): gunicorn's workers, executions running in their pools;
* runner: ``runner.run`` on the engine scenario's 8 + 1 chain, in a loop.

Each profile is summarised as the share of samples (inclusive: the function is on
the stack; self: it is the frame running) per function and per package. The raw
collapsed stacks stay in the run's log directory for flame graphs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from .core import Context, Result
from .measure import post_executes, warm_up
from .stack import ROOT, Stack, workdir
from .stats import Figure
from .workflows import echo

NAME = "profile"
TITLE = "Profiles of the hot paths (py-spy)"
RATE = 200
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*)\)$")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def record(pid: int, seconds: float, name: str) -> subprocess.Popen:
    out = workdir() / f"profile-{name}-{uuid.uuid4().hex[:4]}.txt"
    cmd = [
        py_spy(),
        "record",
        "--format",
        "raw",
        "--nolineno",
        "--nonblocking",
        "--gil",
        "-r",
        str(RATE),
        "-o",
        str(out),
    ]
    cmd += ["--subprocesses", "--pid", str(pid), "--duration", str(int(seconds))]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    process.output = out
    return process


def summarise(path: Path, top: int = 15) -> dict:
    inclusive, own, packages = Counter(), Counter(), Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")]
        frames = [f for f in frames if f is not None]
        if not frames:
            continue
        for key in set(frames):
            inclusive[key] += n
        own[frames[-1]] += n
        packages[_package(frames[-1])] += n

    def share(counter: Counter, keep=lambda key: True) -> list[list]:
        rows = [(key, n) for key, n in counter.most_common() if keep(key)][:top]
        return [[key, round(n / total * 100, 1)] for key, n in rows]

    return {
        "samples": total,
        "inclusive_webapp": share(inclusive, lambda key: key.startswith("webapp/") or "bench/" in key),
        "self": share(own),
        "packages": share(packages),
    }


def _frame(raw: str) -> str | None:
    found = FRAME.match(raw.strip())
    if found is None:
        return None  # "process 123: …" and thread markers
    return f"{found['file']}:{found['func']}"


def _package(key: str) -> str:
    path = key.split(":", 1)[0]
    if path.startswith("webapp/"):
        return "/".join(path.split("/")[:2]).removesuffix(".py")
    head = path.split("/", 1)[0].removesuffix(".py")
    return head or path


def run(ctx: Context) -> Result:
    seconds = ctx.pick(20.0, 6.0)
    result = Result(
        NAME,
        TITLE,
        f"py-spy record ({RATE} Hz, non-blocking) for {seconds:.0f} s per path under load; shares of the samples "
        "of active threads. `inclusive` = the function is anywhere on the stack (webapp functions only); `self` = "
        "the frame on top; packages by the top frame's file.",
    )
    profiles = {}
    with Stack("postgres", ctx.model_url, "queue", 1, ctx.gunicorn) as stack:
        workflow_id = stack.api.create_workflow("profile async", echo())
        warm_up(stack, workflow_id)
        web = record(stack.web.pid, seconds, "web-async")
        worker = record(stack.rq_workers[0].pid, seconds, "worker")
        figures = post_executes(stack, workflow_id, sync=False, concurrency=8, duration=seconds)
        for name, spy in (("web: async execute (queue mode)", web), ("worker: run_execution", worker)):
            spy.wait()
            profiles[name] = (spy.output, figures)
    with Stack("postgres", ctx.model_url, "local", 0, ctx.gunicorn) as stack:
        workflow_id = stack.api.create_workflow("profile sync", echo())
        warm_up(stack, workflow_id)
        web = record(stack.web.pid, seconds, "web-sync")
        figures = post_executes(stack, workflow_id, sync=True, concurrency=8, duration=seconds)
        web.wait()
        profiles["web: sync execute (local mode, runs in the pool)"] = (web.output, figures)
    # The runner in a loop of its own; py-spy attaches after the imports and the warm-up.
    loop = [sys.executable, "-m", "bench.scenarios.engine", "--loop", str(seconds + 5), "--model-url", ctx.model_url]
    runner = subprocess.Popen(loop, cwd=ROOT)
    time.sleep(4)
    spy = record(runner.pid, seconds, "runner")
    spy.wait()
    runner.wait()
    profiles["runner: 8 processing + 1 model node (loopback)"] = (spy.output, None)
    for name, (output, figures) in profiles.items():
        summary = summarise(output)
        summary["raw"] = str(output)
        result.extra[name] = summary
        rate = Figure.of([figures["rps"]] if figures else [], "req/s")
        result.add(name, {"samples": Figure.of([summary["samples"]], ""), "load": rate}, conditions="wrk -c8")
        print(f"\n{name}: {output}")
        for title, rows in (
            ("inclusive", summary["inclusive_webapp"]),
            ("self", summary["self"]),
            ("packages", summary["packages"]),
        ):
            print(f"  {title}: " + "; ".join(f"{key} {share}%" for key, share in rows[:12]))
    return result
