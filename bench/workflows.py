"""The workflow definitions the scenarios run (kept here, not borrowed from tests/,
so a change to the tests cannot silently change what the figures mean)."""

from __future__ import annotations

import itertools


def _input(*names: str) -> dict:
    fields = [{"name": name, "type": "string", "required": True, "max_length": 2000} for name in names]
    return {"id": "in", "type": "input", "config": {"fields": fields}}


def _chain(nodes: list[dict]) -> dict:
    connections = [{"from": a["id"], "to": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"nodes": nodes, "connections": connections}


def echo() -> dict:
    """Issue 8's 3-node workflow: input → processing → output, no model call."""
    return _chain(
        [
            _input("text"),
            {"id": "shout", "type": "processing", "config": {"operation": "uppercase", "input": "{{ in.text }}"}},
            {"id": "out", "type": "output", "config": {"fields": {"result": "{{ shout.value }}"}}},
        ]
    )


ECHO_INPUTS = {"text": "hello from the benchmark"}


def ref(expression: str) -> str:
    return "{{ " + expression + " }}"


_PROCESSING_STEPS = [  # each takes the previous node's value
    ("template", "template", "Topic: {}", {}),
    ("uppercase", "input", "{}", {}),
    ("truncate", "input", "{}", {"length": 120}),
    ("strip", "input", "{}", {}),
    ("lowercase", "input", "{}", {}),
]


def engine_chain(processing: int, models: int) -> dict:
    """input → ``processing`` processing nodes → ``models`` model nodes → output, one chain."""
    nodes = [_input("text")]
    previous = "in.text"
    for i in range(processing):
        operation, key, shape, options = _PROCESSING_STEPS[i % len(_PROCESSING_STEPS)]
        config = {"operation": operation, key: shape.format(ref(previous)), **options}
        nodes.append({"id": f"p{i}", "type": "processing", "config": config})
        previous = f"p{i}.value"
    for i in range(models):
        prompt = f"{ref(previous)} (step {i})"
        config = {"model": "gpt-4o-mini", "prompt": prompt, "cache": False, "retries": 0}
        nodes.append({"id": f"m{i}", "type": "ai_model", "config": config})
        previous = f"m{i}.text"
    nodes.append({"id": "out", "type": "output", "config": {"fields": {"result": ref(previous)}}})
    return _chain(nodes)


def fan_out(width: int = 8, latency: float = 0.2) -> dict:
    """input → ``width`` independent model calls of ``latency`` s each → one output."""
    nodes = [_input("topic")]
    connections = []
    for i in range(width):
        prompt = f"[[latency={latency}]] part {i} of {{{{ in.topic }}}}"
        nodes.append({"id": f"m{i}", "type": "ai_model", "config": {"prompt": prompt, "cache": False}})
        connections += [{"from": "in", "to": f"m{i}"}, {"from": f"m{i}", "to": "out"}]
    fields = {f"p{i}": f"{{{{ m{i}.text }}}}" for i in range(width)}
    nodes.append({"id": "out", "type": "output", "config": {"fields": fields}})
    return {"nodes": nodes, "connections": connections}


def cached_model() -> dict:
    """input → one cacheable model call (50 ms when it really runs) → output."""
    return _chain(
        [
            _input("text"),
            {"id": "gen", "type": "ai_model", "config": {"prompt": "[[latency=0.05]] {{ in.text }}", "cache": True}},
            {"id": "out", "type": "output", "config": {"fields": {"answer": "{{ gen.text }}"}}},
        ]
    )


def model_pipeline() -> dict:
    """input → model call (uncached, zero latency) → processing → output: a worker's usual day."""
    return _chain(
        [
            _input("text"),
            {"id": "gen", "type": "ai_model", "config": {"prompt": "Summarise {{ in.text }}", "cache": False}},
            {
                "id": "clip",
                "type": "processing",
                "config": {"operation": "truncate", "input": "{{ gen.text }}", "length": 200},
            },
            {"id": "out", "type": "output", "config": {"fields": {"summary": "{{ clip.value }}"}}},
        ]
    )


def waiting_pipeline(latency: float) -> dict:
    """input → a template that computes (it runs in a sandbox process) → a model call that
    waits ``latency`` s → output: an execution that spends its life waiting on the model."""
    return _chain(
        [
            _input("text"),
            {
                "id": "topic",
                "type": "processing",
                "config": {"operation": "template", "template": "{{ in.text | title }}"},
            },
            {
                "id": "gen",
                "type": "ai_model",
                "config": {"prompt": f"[[latency={latency:g}]] " + ref("topic.value"), "cache": False},
            },
            {"id": "out", "type": "output", "config": {"fields": {"text": ref("gen.text")}}},
        ]
    )


def five_nodes() -> dict:
    """The shape of the executions bulk-loaded for the reads scenario (5 node rows each)."""
    return _chain(
        [
            _input("text"),
            {"id": "clean", "type": "processing", "config": {"operation": "strip", "input": "{{ in.text }}"}},
            {"id": "gen", "type": "ai_model", "config": {"prompt": "Describe {{ clean.value }}"}},
            {
                "id": "clip",
                "type": "processing",
                "config": {"operation": "truncate", "input": "{{ gen.text }}", "length": 200},
            },
            {"id": "out", "type": "output", "config": {"fields": {"text": "{{ clip.value }}"}}},
        ]
    )


def long_chain(count: int) -> dict:
    """``count`` nodes one after the other: input, processing steps, output (drafts far
    past ``MAX_NODES``, for the editor's bounds)."""
    steps = [
        {"id": f"n{i}", "type": "processing", "config": {"operation": "strip", "input": ref("in.text")}}
        for i in range(1, count - 1)
    ]
    output = {"id": "out", "type": "output", "config": {"fields": {"r": ref("in.text")}}}
    return _chain([_input("text"), *steps, output])


def largest_allowed(size, max_bytes: int) -> dict:
    """The costliest definition ``size`` (the engine's ``Size``) and ``max_bytes`` allow:
    every node, every connection and every expression they permit, padded with text."""
    steps = size.max_nodes - 2
    padding = "lorem ipsum " * ((max_bytes - 60_000) // (12 * steps))
    template = padding + ref("in.text") * (size.max_expressions // steps)
    config = {"operation": "template", "template": template}
    body = [{"id": f"p{i}", "type": "processing", "config": config} for i in range(steps)]
    all_nodes = [_input("text"), *body, {"id": "out", "type": "output", "config": {"fields": {"r": ref("p0.value")}}}]
    ids = [node["id"] for node in all_nodes]
    pairs = itertools.islice(((a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]), size.max_connections)
    return {"nodes": all_nodes, "connections": [{"from": a, "to": b} for a, b in pairs]}


def graded_answer(latency: float) -> dict:
    """input → one uncached model call of ``latency`` s → output: what a test case runs."""
    return _chain(
        [
            _input("question"),
            {
                "id": "gen",
                "type": "ai_model",
                "config": {"prompt": f"[[latency={latency:g}]] " + ref("in.question"), "cache": False},
            },
            {"id": "out", "type": "output", "config": {"fields": {"answer": ref("gen.text")}}},
        ]
    )
