"""Load from wrk, driven by a generated Lua script: the bearer key, the JSON body or
a rotation of paths, and a ``done`` hook that prints the figures as JSON."""

from __future__ import annotations

import json
import subprocess
import uuid

from .stack import workdir

LUA = """
wrk.method = {method}
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = {auth}
local paths = {{ {paths} }}
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  codes = {{}}
  n = 0
end

function request()
  n = n + 1
  return wrk.format(nil, paths[(n % #paths) + 1])
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local agg = {{}}
  for _, t in ipairs(threads) do
    for code, count in pairs(t:get("codes")) do
      agg[code] = (agg[code] or 0) + count
    end
  end
  local parts = {{}}
  for code, count in pairs(agg) do
    table.insert(parts, string.format('"%d": %d', code, count))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {{"requests": %d, "duration_us": %d, "p50_us": %.1f, "p90_us": %.1f, "p99_us": %.1f, ' ..
    '"max_us": %.1f, "mean_us": %.1f, "errors": {{"connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d}}, "codes": {{%s}}}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ", ")))
end
"""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII text


def run_wrk(
    port: int,
    key: str,
    *,
    paths: list[str],
    method: str = "GET",
    body: dict | None = None,
    concurrency: int = 1,
    duration: float = 10.0,
    timeout: float = 30.0,
) -> dict:
    """Run wrk against ``paths`` (rotated) and return its figures, latencies in ms."""
    script = workdir() / f"wrk-{uuid.uuid4().hex[:6]}.lua"
    script.write_text(
        LUA.format(
            method=_lua_string(method),
            body=_lua_string(json.dumps(body)) if body is not None else "nil",
            auth=_lua_string(f"Bearer {key}"),
            paths=", ".join(_lua_string(p) for p in paths),
        )
    )
    threads = min(2, concurrency)
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{max(duration, 1):.0f}s",
        f"--timeout={timeout:.0f}s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    line = next((line for line in result.stdout.splitlines() if line.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{result.stdout}\n{result.stderr}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    seconds = raw["duration_us"] / 1e6
    codes = {int(code): count for code, count in raw["codes"].items()}
    return {
        "requests": raw["requests"],
        "seconds": seconds,
        "rps": raw["requests"] / seconds if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "codes": codes,
        "errors": raw["errors"],
    }
