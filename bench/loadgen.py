"""A second process that submits async executions as fast as ``--concurrency``
keep-alive connections allow, then prints what it sent as JSON.

``python -m bench.loadgen --port P --key K --workflow WF --count 2000 --concurrency 16``
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import threading
import time


def submit(port: int, key: str, workflow_id: str, count: int, concurrency: int, inputs: dict) -> dict:
    body = json.dumps({"inputs": inputs, "async": True}).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    path = f"/api/v1/workflows/{workflow_id}/execute"
    tickets = itertools.count()
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[tuple[int, float]] = []
        while next(tickets) < count:
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            mine.append((status, (time.perf_counter() - started) * 1000))
        with lock:
            for status, ms in mine:
                statuses[status] = statuses.get(status, 0) + 1
                latencies.append(ms)

    started = time.time()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "started": started,
        "ended": time.time(),
        "statuses": statuses,
        "latencies_ms": latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--workflow", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--inputs", default='{"text": "hello"}')
    args = parser.parse_args()
    result = submit(args.port, args.key, args.workflow, args.count, args.concurrency, json.loads(args.inputs))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
