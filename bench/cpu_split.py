"""Where the CPU of a queue-mode throughput run goes, per process: the web, the rq
workers, PostgreSQL, Redis and the load generator, in ms of CPU per execution.

``python -m bench.cpu_split [--workers 2] [--count 1500] [--drain]`` (PostgreSQL, the
echo workflow, async executes at concurrency 16 as in the throughput scenario). It says
which side limits the rate: the figures behind issue 17's analysis. With ``--drain`` the
workers are stopped (SIGSTOP) while the load is submitted, and measured alone as they
drain it: the workers' own rate and cost, without the web beside them.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from .machine import CLOCK_TICKS, SERVICE_COMMANDS, descendants, processes, reaped_children_ticks
from .measure import WARM_UP, submit_async, wait_until_terminal, warm_up
from .stack import ModelServerProcess, Stack, flush_redis
from .workflows import echo


def _groups(stack: Stack, table) -> dict[int, str]:
    """pid → what it is, for the stack's own processes (sandboxes count as their worker's)."""
    named = {pid: "web (gunicorn)" for pid in descendants(stack.web.pid, table)}
    for worker in stack.rq_workers:
        named.update((pid, "rq workers") for pid in descendants(worker.pid, table))
    return named


def _by_group(stack: Stack, before, after) -> Counter:
    named = _groups(stack, after)
    spent = Counter()
    for key, proc in after.items():
        earlier = before.get(key)
        group = named.get(proc.pid) or (proc.comm if proc.comm in SERVICE_COMMANDS else "other")
        spent[group] += (proc.ticks - (earlier.ticks if earlier else 0)) / CLOCK_TICKS
    return spent


@contextmanager
def _paused(stack: Stack) -> Iterator[None]:
    """The stack's rq workers stopped for the block, and going again after it, even if it fails."""
    for worker in stack.rq_workers:
        os.kill(worker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for worker in stack.rq_workers:
            os.kill(worker.pid, signal.SIGCONT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--drain", action="store_true", help="measure the workers alone, draining a submitted load")
    args = parser.parse_args()
    flush_redis()
    model = ModelServerProcess()
    try:
        with Stack("postgres", model.base_url, "queue", args.workers) as stack:
            workflow_id = stack.api.create_workflow("cpu split", echo())
            warm_up(stack, workflow_id)
            if args.drain:  # the load waits in Redis; the measure starts as the workers take it
                with _paused(stack):
                    submit_async(stack, workflow_id, args.count, 16)
                    before, reaped, started = processes(), reaped_children_ticks(), time.monotonic()
            else:
                before, reaped, started = processes(), reaped_children_ticks(), time.monotonic()
                submit_async(stack, workflow_id, args.count, 16)  # a child process: counted when it ends
            loadgen = (reaped_children_ticks() - reaped) / CLOCK_TICKS
            wait_until_terminal(stack, workflow_id, args.count + WARM_UP)
            wall = time.monotonic() - started
            spent = _by_group(stack, before, processes())
    finally:
        model.stop()
        flush_redis()
    if not args.drain:  # else the load was submitted before the measure
        spent["load generator"] = loadgen
    drained = ", drained by the workers alone" if args.drain else ""
    print(f"{args.count} executions in {wall:.1f} s: {args.count / wall:.0f}/s, {args.workers} workers{drained}")
    print(f"{'process':<18} {'cores':>6} {'ms/execution':>13}")
    for group, seconds in spent.most_common():
        print(f"{group:<18} {seconds / wall:6.2f} {1000 * seconds / args.count:13.2f}")
    total = sum(spent.values())
    print(f"{'all':<18} {total / wall:6.2f} {1000 * total / args.count:13.2f}")


if __name__ == "__main__":
    main()
