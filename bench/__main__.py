"""``python -m bench [SCENARIO …] [--quick] [--label NAME]``: run the benchmark suite.

Without scenario names every scenario runs, in the order the report lists them;
``profile`` (py-spy over the hot paths) runs only when named. Results go to the
terminal and into docs/benchmarks.md under ``--label`` (default ``latest``), next
to the figures other labels (``before``, ``after``) recorded earlier.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import traceback

from . import report
from .core import Context
from .machine import machine_info, versions
from .scenarios import ALL, BY_NAME
from .stack import POSTGRES_ADMIN_URL, REDIS_URL, GunicornConfig, ModelServerProcess, flush_redis
from .stack import workdir as make_workdir

ORDER = [*[module.NAME for module in ALL], "profile"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    names = [*BY_NAME, "profile"]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of: {', '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small counts, one repeat")
    parser.add_argument("--repeats", type=int, help="runs per figure (default 3, quick 1)")
    parser.add_argument("--label", default="latest", help="the column these figures fill in the report")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    parser.add_argument("--gunicorn", help="WORKERS:THREADS instead of the chosen set-up")
    parser.add_argument("--render", action="store_true", help="only rewrite docs/ from the figures stored there")
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in names]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    return args


def code_version() -> str:
    """The commit measured, and whether the app's code differed from it."""
    import subprocess

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=report.ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "webapp", "migrations", "wsgi.py", "requirements.txt")
    return f"{head} (with uncommitted changes to the app)" if dirty else head


def preflight() -> list[str]:
    problems = []
    if shutil.which("wrk") is None:
        problems.append("wrk is not installed (apt-get install -y wrk)")
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        problems.append(f"Redis at {REDIS_URL} does not answer: {exc}")
    try:
        import psycopg

        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
    except Exception as exc:
        problems.append(f"PostgreSQL at {POSTGRES_ADMIN_URL} does not answer: {exc}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.render:
        report.write(report.load_store(), ORDER)
        print(f"rewrote {report.DOC.relative_to(report.ROOT)} from its stored figures")
        return 0
    problems = preflight()
    if problems:
        print("cannot run the benchmarks:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    gunicorn = GunicornConfig.parse(args.gunicorn) if args.gunicorn else None
    # The gunicorn grid is exploration, not a figure of the target table: not in a quick run.
    selected = args.scenarios or [module.NAME for module in ALL if not (args.quick and module.NAME == "gunicorn")]
    load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    work = make_workdir()
    print(f"bench: scenarios {', '.join(selected)}; logs in {work}; load average {load_start}", flush=True)
    flush_redis()
    model = ModelServerProcess()
    ctx = Context(args.quick, args.repeats or (1 if args.quick else 3), model.base_url, gunicorn)
    results, failures = [], []
    try:
        for name in selected:
            started = time.monotonic()
            print(f"\n== {name} ==", flush=True)
            try:
                if name == "profile":
                    from . import profile

                    result = profile.run(ctx)
                else:
                    result = BY_NAME[name].run(ctx)
            except Exception:
                failures.append(name)
                traceback.print_exc()
                continue
            results.append(result)
            report.print_table([result])
            print(f"({name}: {time.monotonic() - started:.0f} s)", flush=True)
    finally:
        model.stop()
        flush_redis()
    print("\n== summary ==")
    report.print_table(results)
    if results and not args.no_write:
        store = report.load_store()
        meta = {
            "machine": machine_info(),
            "versions": versions(REDIS_URL, POSTGRES_ADMIN_URL),
            "gunicorn": ctx.gunicorn_label(),
            "loadavg_start": load_start,
            "quick": args.quick,
            "commit": code_version(),
        }
        report.record(store, args.label, meta, results)
        report.write(store, ORDER)
        print(f"\nwrote {report.DOC.relative_to(report.ROOT)} and {report.CHART.relative_to(report.ROOT)}")
    if failures:
        print(f"\nFAILED: {', '.join(failures)} (logs kept in {work})", file=sys.stderr)
        return 1
    if "profile" in selected:
        print(f"raw profiles (py-spy collapsed stacks) kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
