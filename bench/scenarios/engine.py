"""Engine overhead: ``webapp.engine.runner.run`` alone on a parsed 10-node chain.

No Flask, no database, no recorder: the runner with a do-nothing observer. The
headline case is 8 processing nodes + 1 model node between input and output, the
model reached through the real ``ModelGateway`` (openai SDK, HTTP) at the loopback
server answering at once; the other cases show the runner without any HTTP
(an in-process zero-latency gateway) and a chain of 8 real model calls.
"""

from __future__ import annotations

import itertools
import time

from ..core import Context, Result
from ..machine import CpuMeter
from ..stats import Figure
from ..workflows import engine_chain

NAME = "engine"
TITLE = "Engine overhead (runner only, 10-node chain)"
TARGET_US = 1000


class InstantGateway:
    """A zero-latency model in-process: what the runner costs without HTTP."""

    def complete(self, request, **_call):
        from webapp.engine.model_calls import ModelReply, Usage

        return ModelReply(text="ok " + request.messages[-1][1][:40], model="gpt-4o-mini", usage=Usage(3, 2, 5))


def loopback_gateway(model_url: str):
    from webapp.llm import ModelGateway, PriceTable

    return ModelGateway(
        api_key="bench-key",
        base_url=model_url,
        default_model="gpt-4o-mini",
        timeout=30,
        retries=0,
        prices=PriceTable(),
        cache=None,
        cache_ttl=0,
        max_answer_bytes=1 << 20,
    )


def parse(definition: dict):
    from webapp.engine.definition import parse_definition
    from webapp.engine.expressions import Expressions

    return parse_definition(definition, Expressions())


def time_runs(graph, gateway, iterations: int) -> float:
    """µs per node over ``iterations`` runs (inputs differ, as real runs' do)."""
    from webapp.engine import runner

    nodes = len(graph.nodes)
    counter = itertools.count()
    started = time.perf_counter()
    for _ in range(iterations):
        result = runner.run(graph, {"text": f"benchmark input number {next(counter)}"}, models=gateway)
        if result.status != "completed":
            raise RuntimeError(f"the benchmark chain failed: {result.error}")
    return (time.perf_counter() - started) / iterations / nodes * 1e6


def run(ctx: Context) -> Result:
    result = Result(
        NAME,
        TITLE,
        "`webapp.engine.runner.run(graph, inputs, models=…)` in this process on an already parsed 10-node chain, "
        "no recorder (the default `Observer`): wall time of a run ÷ 10 nodes. Each run's figure is the mean over "
        "many runs after a warm-up; the table shows the median and min–max of those runs.",
    )
    cases = [
        ("8 processing + 1 model node, ModelGateway → loopback server (0 ms)", engine_chain(8, 1), "loopback", True),
        ("8 processing + 1 model node, in-process zero-latency gateway", engine_chain(8, 1), "instant", True),
        ("10 processing nodes (8 between input and output), no model", engine_chain(8, 0), "instant", False),
        ("8 model nodes in a chain, ModelGateway → loopback server (0 ms)", engine_chain(0, 8), "loopback", False),
    ]
    iterations = ctx.pick(300, 60)
    for label, definition, gateway_kind, headline in cases:
        graph = parse(definition)
        gateway = loopback_gateway(ctx.model_url) if gateway_kind == "loopback" else InstantGateway()
        time_runs(graph, gateway, 20)  # warm-up: imports, the SDK's connection, template caches
        samples, cpu = [], []
        for _ in range(max(ctx.repeats, 3)):
            with CpuMeter() as meter:
                samples.append(time_runs(graph, gateway, iterations))
            cpu.append(meter.stop())
        figure = Figure.of(samples, "µs/node")
        result.add(
            label,
            {"per node": figure},
            conditions=f"{iterations} runs per sample, 1 thread",
            target=f"< {TARGET_US:,} µs" if headline else "",
            met=(figure.median < TARGET_US) if headline else None,
            cpu_samples=cpu,
        )
    result.notes.append(
        "The runner hands model nodes (``blocking``) to a per-run thread pool and runs the others inline; "
        "the loopback cases include the openai SDK's request building, one HTTP round trip on a kept-alive "
        "connection, and the model server's own (Python) time, on the same 2 cores."
    )
    return result


def loop(seconds: float, model_url: str) -> None:
    """``python -m bench.scenarios.engine --loop S --model-url U``: the headline case, for a profiler."""
    import time as clock

    graph = parse(engine_chain(8, 1))
    gateway = loopback_gateway(model_url)
    deadline = clock.monotonic() + seconds
    while clock.monotonic() < deadline:
        time_runs(graph, gateway, 20)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", type=float, required=True)
    parser.add_argument("--model-url", required=True)
    args = parser.parse_args()
    loop(args.loop, args.model_url)
