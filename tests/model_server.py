"""A small OpenAI-compatible chat-completions server on loopback.

The tests (and ``make bench``) reach it through the real ``openai`` SDK over real
HTTP, so retries, timeouts and error mapping are exercised for real. A test steers
it per call with directives in the user prompt, which keeps parallel calls apart:

    [[latency=0.2]]    answer after 0.2 s          [[status=500]]   always fail with 500
    [[fail=2:429]]     fail twice with 429, then answer (counted per prompt)
    [[hang]]           never answer in time         [[malformed]]    a 200 with a broken body
    [[no_usage]]       leave out "usage"            [[reply=text]]   answer exactly "text"
    [[big=N]]          answer N characters          [[retry_after=N]] failures ask for an N s wait
    [[drip=0.5]]       send the answer one byte every 0.5 s (kept in ``drips``: when the client hung up)
    [[call=NAME ARGS]] ask for the tool NAME with ARGS (JSON text, sent as written: a test may break it)
    [[also=NAME ARGS]] one more tool call in the same answer as the ``call`` before it

Tool calls: each ``call`` starts a round, answered in turn; the round asked for is the number
of assistant tool-call messages already in the conversation. Once every round was asked, the
answer is "Tools said: " and the contents of the tool results, in order, joined by " | ".

Server-wide: ``latency`` (the model list waits it too), ``replies`` (first rule whose
substring is in the prompt gives the answer), and ``list_drip`` (seconds: the model list
trickles a byte at a time). Every request is kept in ``calls``, with the ``time.time()`` it
arrived (``started``); the model lists asked for are counted in ``model_lists``; the most
completions answered at once is ``most_in_flight`` (a bound on concurrency, seen from outside).

Run alone for manual tries or benchmarks: ``python -m tests.model_server --port 8800``.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.http_server import Trickle, trickle

MODELS = ("gpt-4o-mini", "local-llama", "tiny-test-model")  # what GET /models lists
DIRECTIVE = re.compile(r"\[\[(\w+)(?:=((?:[^\]]|\](?!\]))*))?\]\]")


class ModelServer:
    def __init__(self, latency: float = 0.0, port: int = 0) -> None:
        self.latency = latency
        self.replies: list[tuple[str, str]] = []
        self.calls: list[dict] = []
        self.model_lists = 0  # GET /models asked
        self.in_flight = self.most_in_flight = 0  # completions being answered now; the most at once
        self.epoch = 0  # bumped by reset: a call from before it (a slow one still answering) is not counted
        self.drips: list[Trickle] = []
        self.list_drip: float | None = None
        self.failures: dict[str, int] = {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def call_count(self) -> int:
        with self.lock:
            return len(self.calls)

    def start(self) -> ModelServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="model-server", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.failures.clear()
            self.replies.clear()
            self.drips.clear()
            self.list_drip = None
            self.model_lists = 0
            self.in_flight = self.most_in_flight = 0
            self.epoch += 1
        self.latency = 0.0

    def reply_when(self, substring: str, text: str) -> None:
        self.replies.append((substring, text))

    # -- answering -------------------------------------------------------------------

    def answer(self, body: dict, authorization: str = "") -> tuple[int, dict | str, dict]:
        """(status, body, headers) for one request."""
        messages = body.get("messages") or []
        prompt = answer_prompt(body)
        directives = {name: value for name, value in DIRECTIVE.findall(prompt)}
        started = time.time()
        delay = float(directives["latency"]) if "latency" in directives else self.latency
        if "hang" in directives:
            delay = 3600.0
        with self.lock:
            self.calls.append({"body": body, "prompt": prompt, "started": started, "authorization": authorization})
            failing = self._failing(prompt, directives)
        if delay:
            time.sleep(delay)
        if failing:
            return failing
        if "status" in directives:
            return _error(int(directives["status"]), directives.get("retry_after"))
        if "malformed" in directives:
            return 200, '{"id": "chatcmpl-broken", "choices": [', {}
        calls = _tool_round(prompt, messages)
        text = "" if calls else self._reply_text(prompt, directives, body, messages)
        message = {"role": "assistant", "content": text}
        if calls:
            message = {"role": "assistant", "content": None, "tool_calls": calls}
        completion = {
            "id": f"chatcmpl-{int(started * 1000)}",
            "object": "chat.completion",
            "created": int(started),
            "model": body.get("model", "test-model"),
            "choices": [{"index": 0, "finish_reason": "tool_calls" if calls else "stop", "message": message}],
        }
        if "no_usage" not in directives:
            prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
            completion_tokens = len(text.split()) + sum(len(c["function"]["arguments"].split()) for c in calls)
            completion["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        return 200, completion, {}

    def _failing(self, prompt: str, directives: dict) -> tuple | None:
        if "fail" not in directives:
            return None
        times, _, status = directives["fail"].partition(":")
        seen = self.failures.get(prompt, 0)
        self.failures[prompt] = seen + 1
        return _error(int(status or 500), directives.get("retry_after")) if seen < int(times) else None

    def _reply_text(self, prompt: str, directives: dict, body: dict, messages: list) -> str:
        if "reply" in directives:
            return directives["reply"]
        if "big" in directives:
            return "x" * int(directives["big"])
        for substring, text in self.replies:
            if substring in prompt:
                return text
        results = [str(m.get("content") or "") for m in messages if m.get("role") == "tool"]
        if results:
            return "Tools said: " + " | ".join(results)
        clean = DIRECTIVE.sub("", prompt).strip()
        if (body.get("response_format") or {}).get("type") == "json_object":
            return json.dumps({"echo": clean[:200], "words": len(clean.split())})
        return f"Echo: {clean}"


def answer_prompt(body: dict) -> str:
    """The last user message: where a test's directives are."""
    messages = body.get("messages") or []
    return next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")


def _tool_round(prompt: str, messages: list) -> list[dict]:
    """The tool calls this answer asks for: the next round of ``call``/``also`` directives."""
    rounds: list[list[tuple[str, str]]] = []
    for name, value in DIRECTIVE.findall(prompt):
        if name not in ("call", "also"):
            continue
        tool, _, arguments = value.strip().partition(" ")
        if name == "call" or not rounds:
            rounds.append([])
        rounds[-1].append((tool, arguments.strip() or "{}"))
    asked = sum(1 for m in messages if m.get("role") == "assistant" and m.get("tool_calls"))
    if asked >= len(rounds):
        return []
    return [
        {"id": f"call_{asked}_{index}", "type": "function", "function": {"name": tool, "arguments": arguments}}
        for index, (tool, arguments) in enumerate(rounds[asked])
    ]


def directive(prompt: str, name: str) -> str | None:
    """The value of the directive ``name`` in ``prompt``, if it is there."""
    return next((value for found, value in DIRECTIVE.findall(prompt) if found == name), None)


def _error(status: int, retry_after: str | None = None) -> tuple[int, dict, dict]:
    if retry_after is None and status == 429:
        retry_after = "0"
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    return status, {"error": {"message": f"injected {status}", "type": kind, "code": kind}}, headers


def _handler_for(server: ModelServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: without this, +40 ms a call

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(400, {"error": {"message": "invalid JSON"}}, {})
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}"}}, {})
                return
            with server.lock:
                epoch = server.epoch
                server.in_flight += 1
                server.most_in_flight = max(server.most_in_flight, server.in_flight)
            try:
                status, answer, headers = server.answer(body, self.headers.get("Authorization", ""))
            finally:
                with server.lock:
                    server.in_flight -= server.epoch == epoch
            drip = directive(answer_prompt(body), "drip")
            if drip is not None:
                self._drip(json.dumps(answer).encode(), float(drip))
                return
            self._send(status, answer, headers)

        def _drip(self, payload: bytes, every: float) -> None:
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            self.connection.sendall(head.encode())
            record = trickle(self.connection, payload, every)
            with server.lock:
                server.drips.append(record)
            self.close_connection = True

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):  # the model list, as OpenAI answers it
                with server.lock:
                    server.model_lists += 1
                time.sleep(server.latency)
                models = [{"id": name, "object": "model", "created": 0, "owned_by": "test"} for name in MODELS]
                if server.list_drip:
                    self._drip(json.dumps({"object": "list", "data": models}).encode(), server.list_drip)
                    return
                self._send(200, {"object": "list", "data": models}, {})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}}, {})

        def _send(self, status: int, body, headers: dict) -> None:
            payload = (body if isinstance(body, str) else json.dumps(body)).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        def log_message(self, *args) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    server = ModelServer(latency=args.latency, port=args.port)
    print(f"OpenAI-compatible test server on {server.base_url}", flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
