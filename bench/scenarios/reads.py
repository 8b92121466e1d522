"""Reads at scale: the same three GETs over 1k and over 100k executions.

Two fresh PostgreSQL databases with the real schema (``flask --app wsgi db
upgrade``), each served by its own gunicorn (local mode). The bench user owns 50
workflows (made through the API); executions and node rows are bulk-loaded with
COPY: half of them belong to one "hot" workflow, the rest spread over the others,
5 node rows each, ``created_at`` over the last 30 days. wrk at concurrency 1 then
reads, alternating between the two databases so contention hits both alike:

* list workflows: ``GET /api/v1/workflows?limit=20``
* execution history: ``GET /api/v1/workflows/{hot}/executions?limit=20``
* execution detail: ``GET /api/v1/executions/{id}``, rotating over 200 ids of the hot workflow

The SQL statements each request issues are counted in-process (Flask test client
and a SQLAlchemy event), which shows an N+1 as a count that grows with the page.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import UTC, datetime, timedelta

from ..core import Context, Result
from ..machine import CpuMeter
from ..stack import Stack
from ..stats import Figure
from ..workflows import five_nodes
from ..wrk import run_wrk

NAME = "reads"
TITLE = "Reads at scale (PostgreSQL): 1k vs 100k executions"
WORKFLOWS = 50
NODES = [("in", "input"), ("clean", "processing"), ("gen", "ai_model"), ("clip", "processing"), ("out", "output")]
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def ulid(prefix: str, ms: int) -> str:
    """An id shaped like ``webapp.models.base.new_id`` for a moment in the past."""
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def load(stack: Stack, executions: int) -> dict:
    """Workflows through the API, then executions and node rows by COPY. Returns the hot
    workflow's id and a sample of its execution ids."""
    import psycopg

    workflow_ids = [stack.api.create_workflow(f"workflow {i}", five_nodes()) for i in range(WORKFLOWS)]
    hot = workflow_ids[0]
    rng = random.Random(8)
    now = datetime.now(UTC).replace(tzinfo=None)
    span_ms = 30 * 24 * 3600 * 1000
    started = time.monotonic()
    hot_ids = []
    with psycopg.connect(stack.database.psycopg_url) as conn:
        user_id = conn.execute("SELECT id FROM users").fetchone()[0]
        # Past history, loaded as a restore would be: no per-row triggers (the start counter
        # of migration 0006 would update one workflow's row 50,000 times); counted below at once.
        conn.execute("SET LOCAL session_replication_role = replica")
        moments = sorted(rng.randrange(span_ms) for _ in range(executions))
        with conn.cursor() as cur:
            with cur.copy(
                "COPY executions (id, workflow_id, workflow_version, user_id, status, inputs, outputs, error, "
                "created_at, started_at, finished_at, heartbeat_at, runner, prompt_tokens, completion_tokens, "
                "total_tokens, cost_usd, cost_saved_usd) FROM STDIN"
            ) as copy:
                rows = []
                for n, offset in enumerate(moments):
                    created = now - timedelta(milliseconds=span_ms - offset)
                    workflow_id = hot if n % 2 == 0 else workflow_ids[1 + rng.randrange(WORKFLOWS - 1)]
                    execution_id = ulid("exec", int(created.replace(tzinfo=UTC).timestamp() * 1000))
                    if workflow_id == hot:
                        hot_ids.append(execution_id)
                    failed = n % 20 == 0
                    started_at, finished_at = created + timedelta(milliseconds=3), created + timedelta(milliseconds=900)
                    copy.write_row(
                        (
                            execution_id,
                            workflow_id,
                            1,
                            user_id,
                            "failed" if failed else "completed",
                            json.dumps({"text": f"product number {n}"}),
                            None if failed else json.dumps({"text": f"A fine product, number {n}."}),
                            json.dumps({"code": "node_failed", "message": "node 'gen' failed", "node_id": "gen"})
                            if failed
                            else None,
                            created,
                            started_at,
                            finished_at,
                            finished_at,
                            "bench:1",
                            40,
                            60,
                            100,
                            0.000042,
                            0.0,
                        )
                    )
                    rows.append((execution_id, started_at, finished_at, failed))
            with cur.copy(
                "COPY node_runs (execution_id, position, node_id, type, status, started_at, finished_at, input, "
                "output, error, prompt_tokens, completion_tokens, total_tokens, cost_usd, cost_saved_usd, cached, "
                "attempts, reused_from) FROM STDIN"
            ) as copy:
                for execution_id, started_at, finished_at, failed in rows:
                    for position, (node_id, kind) in enumerate(NODES):
                        model = kind == "ai_model"
                        status = "failed" if failed and model else "completed"
                        output = None if status == "failed" else json.dumps({"value": f"{node_id} output text"})
                        copy.write_row(
                            (
                                execution_id,
                                position,
                                node_id,
                                kind,
                                status,
                                started_at,
                                finished_at,
                                json.dumps({"prompt": "Describe the product"}) if model else None,
                                output,
                                json.dumps({"code": "model_error", "message": "the model server answered 500"})
                                if status == "failed"
                                else None,
                                40 if model else None,
                                60 if model else None,
                                100 if model else None,
                                0.000042 if model else 0.0,
                                0.0,
                                False,
                                1,
                                None,
                            )
                        )
        conn.execute(
            "UPDATE workflows w SET usage_count = c.n FROM (SELECT workflow_id, count(*) n FROM executions "
            "GROUP BY workflow_id) c WHERE c.workflow_id = w.id"
        )
        conn.execute(  # the history counters the database keeps as executions start
            "INSERT INTO execution_counts (user_id, workflow_id, count) "
            "SELECT user_id, workflow_id, count(*) FROM executions GROUP BY user_id, workflow_id"
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return {"hot": hot, "sample": rng.sample(hot_ids, min(200, len(hot_ids))), "load_s": time.monotonic() - started}


def endpoints(data: dict) -> dict[str, list[str]]:
    return {
        "list workflows": ["/api/v1/workflows?limit=20"],
        "execution history": [f"/api/v1/workflows/{data['hot']}/executions?limit=20"],
        "execution detail": [f"/api/v1/executions/{e}" for e in data["sample"]],
    }


def count_queries(stack: Stack, paths: dict[str, list[str]]) -> dict[str, int]:
    """SQL statements per request, in-process on the same database."""
    import logging

    from sqlalchemy import event

    from webapp import create_app
    from webapp.config import Config
    from webapp.extensions import db

    config = Config()
    config.SQLALCHEMY_DATABASE_URI = stack.database.url
    config.REDIS_URL = None
    config.RATELIMIT_ENABLED = False
    config.REAPER_ENABLED = False
    app = create_app(config)
    logging.getLogger().setLevel(logging.WARNING)
    client = app.test_client()
    counts = {}
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(*args):
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    headers = {"Authorization": f"Bearer {stack.key}"}
    for name, candidates in paths.items():
        client.get(candidates[0], headers=headers)  # warm: the key's last_used_at write, caches
        statements.clear()
        response = client.get(candidates[-1], headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{name} answered {response.status_code}")
        counts[name] = len(statements)
    event.remove(engine, "before_cursor_execute", count)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return counts


def run(ctx: Context) -> Result:
    small_n, large_n = 1000, ctx.pick(100_000, 10_000)
    result = Result(
        NAME,
        TITLE,
        f"PostgreSQL databases with {small_n:,} and {large_n:,} executions ({small_n * 5:,} and {large_n * 5:,} node "
        f"rows) bulk-loaded by COPY into the migrated schema; {WORKFLOWS} workflows, half of the executions in one. "
        "wrk -c1 reads each endpoint for a fixed time, alternating between the two databases; the ratio is "
        "large ÷ small. Statements per request counted in-process.",
    )
    duration = ctx.pick(5.0, 2.0)
    with (
        Stack("postgres", ctx.model_url, "local", 0, ctx.gunicorn) as small,
        Stack("postgres", ctx.model_url, "local", 0, ctx.gunicorn) as large,
    ):
        data = {"small": load(small, small_n), "large": load(large, large_n)}
        result.notes.append(
            f"Bulk load: {large_n:,} executions + {large_n * 5:,} node rows in {data['large']['load_s']:.1f} s "
            "(COPY, then VACUUM ANALYZE)."
        )
        stacks = {"small": small, "large": large}
        paths = {scale: endpoints(data[scale]) for scale in stacks}
        queries = {scale: count_queries(stacks[scale], paths[scale]) for scale in stacks}
        for name in paths["small"]:
            runs = {"small": [], "large": []}
            cpu = []
            for _ in range(ctx.repeats):
                for scale in ("small", "large"):
                    stack = stacks[scale]
                    run_wrk(stack.port, stack.key, paths=paths[scale][name], duration=1)  # warm
                    with CpuMeter() as meter:
                        runs[scale].append(run_wrk(stack.port, stack.key, paths=paths[scale][name], duration=duration))
                    cpu.append(meter.stop())
            p50 = {s: Figure.of([r["p50_ms"] for r in runs[s]], "ms") for s in runs}
            p99 = {s: Figure.of([r["p99_ms"] for r in runs[s]], "ms") for s in runs}
            ratio50 = Figure.of(
                [b["p50_ms"] / a["p50_ms"] for a, b in zip(runs["small"], runs["large"], strict=True)], "×"
            )
            ratio99 = Figure.of(
                [b["p99_ms"] / a["p99_ms"] for a, b in zip(runs["small"], runs["large"], strict=True)], "×"
            )
            for scale in runs:
                bad = [r["codes"] for r in runs[scale] if set(r["codes"]) != {200}]
                if bad:
                    result.notes.append(f"{name} ({scale}): answers {bad}")
            result.add(
                name,
                {
                    f"p50 @{small_n // 1000}k": p50["small"],
                    f"p99 @{small_n // 1000}k": p99["small"],
                    f"p50 @{large_n // 1000}k": p50["large"],
                    f"p99 @{large_n // 1000}k": p99["large"],
                    "ratio p50": ratio50,
                    "ratio p99": ratio99,
                    f"SQL statements @{small_n // 1000}k": Figure.of([queries["small"][name]], ""),
                    f"SQL statements @{large_n // 1000}k": Figure.of([queries["large"][name]], ""),
                },
                conditions=f"wrk -c1 -d{duration:.0f}s per run",
                target="ratio ≤ 1.5",
                met=ratio50.median <= 1.5,
                headline="ratio p50",
                cpu_samples=cpu,
            )
    return result
