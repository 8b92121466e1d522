"""Event streams (issue 35): how soon a model's first piece of text reaches an API client,
what many open streams cost a web process, and how Redis carries events between processes.

1. Redis delivery: an event appended by one connection and read by another, as a stream
   entry (``XADD`` → ``XREAD``, what ``runs/events.py`` does) and as a pub/sub message
   (``PUBLISH`` → a subscriber): the choice between the two.
2. First ``text_chunk``: ``POST …/execute`` with ``"stream": true`` of an input → ai_model →
   output workflow, from sending the request to reading the first ``text_chunk`` event,
   beside the same chat completion asked straight from the loopback model server (request
   sent → first content chunk). Sequential, cache off, both modes.
3. Open streams: one web process (gunicorn gthread, ``STREAM_SLOTS`` + 16 threads) holds 200
   open event streams of a long-running execution while sync executes of the echo
   workflow are timed one after another, against their p50 with no stream open; the web's
   RSS before and after gives the memory per open stream; one more stream is refused (503).
"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import time

from ..core import Context, Result
from ..machine import tree_memory_kb
from ..stack import REDIS_URL, GunicornConfig, Stack
from ..stats import Figure, percentile
from ..workflows import ECHO_INPUTS, echo

NAME = "streams"
TITLE = "Event streams: first text chunk, open streams, Redis delivery"
OPEN_STREAMS = 200
REPLY = "[[reply=alpha beta gamma delta]] [[every=0.02]]"


def _model_workflow(prompt: str = REPLY, **config) -> dict:
    fields = [{"name": "text", "type": "string", "required": True}]
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": fields}},
            {
                "id": "gen",
                "type": "ai_model",
                "config": {"prompt": prompt + " {{ in.text }}", "cache": False, **config},
            },
            {"id": "out", "type": "output", "config": {"fields": {"answer": "{{ gen.text }}"}}},
        ],
        "connections": [{"from": "in", "to": "gen"}, {"from": "gen", "to": "out"}],
    }


def _first_line(response: http.client.HTTPResponse, wanted: bytes) -> None:
    while True:
        line = response.readline()
        if not line:
            raise RuntimeError("the stream ended before " + wanted.decode())
        if line.startswith(wanted):
            return


def direct_first_chunk_ms(model_url: str, text: str) -> float:
    host, _, rest = model_url.removeprefix("http://").partition("/")
    address, _, port = host.partition(":")
    conn = http.client.HTTPConnection(address, int(port), timeout=30)
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": f"{REPLY} {text}"}]}
    started = time.perf_counter()
    conn.request("POST", f"/{rest}/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    _first_line(response, b'data: {"id"')
    elapsed = (time.perf_counter() - started) * 1000
    response.read()
    conn.close()
    return elapsed


def api_first_chunk_ms(stack: Stack, workflow_id: str, text: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    headers = {"Authorization": f"Bearer {stack.key}", "Content-Type": "application/json"}
    body = json.dumps({"inputs": {"text": text}, "stream": True})
    started = time.perf_counter()
    conn.request("POST", f"/api/v1/workflows/{workflow_id}/execute", body, headers)
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"execute with stream answered {response.status}: {response.read()[:300]!r}")
    _first_line(response, b"event: text_chunk")
    elapsed = (time.perf_counter() - started) * 1000
    _first_line(response, b"event: execution_finished")
    conn.close()
    return elapsed


def first_chunk(ctx: Context, result: Result, mode: str) -> None:
    samples = ctx.pick(60, 10)
    with Stack("postgres", ctx.model_url, mode, 1 if mode == "queue" else 0) as stack:
        workflow_id = stack.api.create_workflow("streamed", _model_workflow())
        for warm in range(3):
            api_first_chunk_ms(stack, workflow_id, f"warm {warm}")
            direct_first_chunk_ms(ctx.model_url, f"warm {warm}")
        ours, straight = [], []
        for n in range(samples):
            ours.append(api_first_chunk_ms(stack, workflow_id, f"run {n}"))
            straight.append(direct_first_chunk_ms(ctx.model_url, f"run {n}"))
        added = percentile(ours, 95) - percentile(straight, 95)
        result.add(
            f"first text_chunk, {stack.label()}",
            {
                "API p50": Figure.of([percentile(ours, 50)], "ms"),
                "API p95": Figure.of([percentile(ours, 95)], "ms"),
                "model p50": Figure.of([percentile(straight, 50)], "ms"),
                "model p95": Figure.of([percentile(straight, 95)], "ms"),
                "added p95": Figure.of([added], "ms"),
            },
            conditions=f"{samples} sequential executes with stream: true, each beside one direct streamed call",
            target="added p95 < 30 ms",
            met=added < 30,
            headline="added p95",
        )


def _open_stream(port: int, key: str, execution_id: str) -> tuple[socket.socket, int]:
    """A raw connection reading an execution's events: (socket, status), headers read."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    request = (
        f"GET /api/v1/executions/{execution_id}/events HTTP/1.1\r\nHost: bench\r\n"
        f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        piece = sock.recv(4096)
        if not piece:
            break
        head += piece
    status = int(head.split(b" ", 2)[1]) if head else 0
    return sock, status


def _sync_p50_ms(stack: Stack, workflow_id: str, count: int) -> float:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        status, _ = stack.api.call("POST", f"/workflows/{workflow_id}/execute", {"inputs": ECHO_INPUTS})
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"a sync execute answered {status}")
    return statistics.median(times)


def open_streams(ctx: Context, result: Result, mode: str) -> None:
    count = ctx.pick(200, 100)
    settings = {"STREAM_SLOTS": OPEN_STREAMS, "MODEL_TIMEOUT": 900, "EXECUTION_TIMEOUT": 900}
    config = GunicornConfig(workers=1, threads=OPEN_STREAMS + 16)
    with Stack("postgres", ctx.model_url, mode, 1 if mode == "queue" else 0, config, settings) as stack:
        workflow_id = stack.api.create_workflow("echo", echo())
        slow = stack.api.create_workflow("slow", _model_workflow("[[latency=600]]", timeout=900))
        _, started = stack.api.call("POST", f"/workflows/{slow}/execute", {"inputs": {"text": "x"}, "async": True})
        execution_id = started["execution_id"]
        _sync_p50_ms(stack, workflow_id, 20)  # warm
        before_p50 = [_sync_p50_ms(stack, workflow_id, count) for _ in range(ctx.repeats)]
        rss_before, _ = tree_memory_kb([stack.web.pid])
        opened = [_open_stream(stack.port, stack.key, execution_id) for _ in range(OPEN_STREAMS)]
        refused = _open_stream(stack.port, stack.key, execution_id)
        time.sleep(1.0)
        rss_after, _ = tree_memory_kb([stack.web.pid])
        during_p50 = [_sync_p50_ms(stack, workflow_id, count) for _ in range(ctx.repeats)]
        held = sum(1 for _, status in opened if status == 200)
        for sock, _ in [*opened, refused]:
            sock.close()
        stack.api.call("POST", f"/executions/{execution_id}/cancel")
        ratio = statistics.median(during_p50) / statistics.median(before_p50)
        result.add(
            f"{OPEN_STREAMS} open streams, {stack.label()}",
            {
                "sync p50 alone": Figure.of(before_p50, "ms"),
                "sync p50 with streams": Figure.of(during_p50, "ms"),
                "ratio": Figure.of([ratio], "×"),
                "RSS per stream": Figure.of([(rss_after - rss_before) / max(held, 1)], "kB"),
            },
            conditions=f"{held} streams open (one more: {refused[1]}), gunicorn 1 × gthread({config.threads}), "
            f"{count} sequential sync executes",
            target="p50 within 10 %",
            met=ratio <= 1.10 and held == OPEN_STREAMS and refused[1] == 503,
            headline="ratio",
        )


def redis_delivery(ctx: Context, result: Result) -> None:
    """Append on one connection → the other connection has it, in microseconds, measured
    alike for both: a stream entry (``XADD`` then ``XREAD BLOCK`` from the id before it) and
    a pub/sub message (``PUBLISH`` then the subscriber's read)."""
    import redis

    count = ctx.pick(2000, 300)
    writer, reader = redis.Redis.from_url(REDIS_URL), redis.Redis.from_url(REDIS_URL)
    key, channel = "bench-stream-delivery", "bench-pubsub-delivery"
    payload = '{"node_id":"gen","text":"word "}'
    writer.delete(key)
    stream_us: list[float] = []
    for n in range(1, count + 1):
        started = time.perf_counter()
        writer.xadd(key, {"k": "text_chunk", "d": payload}, id="0-*", maxlen=1000, approximate=True)
        got = reader.xread({key: f"0-{n - 1}"}, count=1, block=5000)
        stream_us.append((time.perf_counter() - started) * 1e6)
        assert got, "the stream entry did not arrive"
    writer.delete(key)
    pubsub_us: list[float] = []
    subscriber = reader.pubsub()
    subscriber.subscribe(channel)
    subscriber.get_message(timeout=1)  # the subscription's confirmation
    for _ in range(count):
        started = time.perf_counter()
        writer.publish(channel, payload)
        message = subscriber.get_message(timeout=5)
        while message is not None and message["type"] != "message":
            message = subscriber.get_message(timeout=5)
        pubsub_us.append((time.perf_counter() - started) * 1e6)
    subscriber.close()
    for name, values in (("Redis stream (XADD → XREAD)", stream_us), ("Redis pub/sub (PUBLISH → read)", pubsub_us)):
        result.add(
            name,
            {"p50": Figure.of([percentile(values, 50)], "µs"), "p95": Figure.of([percentile(values, 95)], "µs")},
            conditions=f"{len(values)} events one after another, writer and reader on separate connections",
        )


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE, __doc__.split("\n\n", 1)[1].strip())
    redis_delivery(ctx, result)
    for mode in ("local", "queue"):
        first_chunk(ctx, result, mode)
    for mode in ("local", "queue"):
        open_streams(ctx, result, mode)
    return result
