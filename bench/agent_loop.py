"""The agent loop measured on loopback: two tool calls of 1 s in one answer (at once, and one
at a time with NODE_CONCURRENCY=1), and the cost of a step (20 sequential tool calls).
``python -m bench.agent_loop``; each figure is the best and the median of 5 runs."""

from __future__ import annotations

import time

from tests.engine.conftest import make_gateway
from tests.http_server import ApiServer
from tests.model_server import ModelServer
from webapp.engine import runner
from webapp.engine.definition import parse_definition
from webapp.engine.expressions import Expressions
from webapp.engine.nodes.base import Limits
from webapp.outbound import Destinations, HttpClient


def graph(api: ApiServer, prompt: str, max_steps: int = 20):
    """input → an agent with one HTTP tool (its path from the model's ``p``) → output."""
    tool = {
        "name": "t",
        "parameters": {"type": "object", "properties": {"p": {"type": "string"}}},
        "http": {"url": api.url("/{{ args.p }}")},
    }
    d = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": []}},
            {"id": "a", "type": "agent", "config": {"prompt": prompt, "tools": [tool], "max_steps": max_steps}},
            {"id": "out", "type": "output", "config": {"fields": {"t": "{{ a.text }}"}}},
        ],
        "connections": [{"from": "in", "to": "a"}, {"from": "a", "to": "out"}],
    }
    return parse_definition(d, Expressions())


def timed(g, limits: Limits, models, http):
    best = []
    for _ in range(5):
        t = time.perf_counter()
        r = runner.run(g, {}, models=models, http=http, limits=limits)
        best.append(time.perf_counter() - t)
        assert r.status == "completed", r.error
    return min(best), sorted(best)[2], r


def main() -> None:
    api, model = ApiServer().start(), ModelServer().start()
    call = {
        "models": make_gateway(model.base_url, retries=0),
        "http": HttpClient(Destinations.parse("127.0.0.1"), 1 << 20),
    }
    two = graph(api, '[[call=t {"p": "slow?s=1"}]] [[also=t {"p": "slow?s=1"}]]')
    for width in (8, 1):
        lo, med, r = timed(two, Limits(max_parallel=width), **call)
        print(f"2 calls of 1 s in one answer, NODE_CONCURRENCY={width}: min {lo:.3f} s, median {med:.3f} s")
    twenty = graph(api, " ".join('[[call=t {"p": "echo"}]]' for _ in range(20)))
    lo, med, r = timed(twenty, Limits(), **call)
    u = r.records["a"].usage
    per_step = lo / 20 * 1000
    print(f"20 sequential /echo tool calls (21 model calls): min {lo:.3f} s, median {med:.3f} s")
    print(f"  {per_step:.1f} ms a step; {u.total_tokens} tokens")
    api.stop()
    model.stop()


if __name__ == "__main__":
    main()
