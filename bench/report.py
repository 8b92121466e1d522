"""The printed table, docs/benchmarks.md and its throughput chart.

Results are kept inside the markdown itself (a JSON comment at its end), keyed by
a run label ("before", "after", …), so running one scenario alone updates its own
section and leaves the others as they were measured.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from .core import Result
from .stats import Figure, fmt

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "benchmarks-throughput.svg"
ANALYSIS = Path(__file__).resolve().parent / "analysis.md"
DATA = re.compile(r"<!-- bench-data\n(.*?)\n-->", re.S)


# -- the store ------------------------------------------------------------------------------


def load_store(path: Path = DOC) -> dict:
    if path.exists():
        found = DATA.search(path.read_text())
        if found:
            return json.loads(found.group(1))
    return {"runs": {}}


def record(store: dict, label: str, meta: dict, results: list[Result]) -> None:
    run = store["runs"].setdefault(label, {"results": {}})
    meta = dict(meta)
    loadavg = meta.pop("loadavg_start", "n/a")
    run.update(meta)
    run["updated"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    names = ", ".join(result.name for result in results)
    run.setdefault("invocations", []).append(f"{run['updated']}: {names} (load average at start {loadavg})")
    for result in results:
        run["results"][result.name] = {**result.as_dict(), "when": run["updated"], "quick": meta["quick"]}
    store["latest"] = label


# -- the terminal ---------------------------------------------------------------------------


def print_table(results: list[Result]) -> None:
    lines = [("scenario / case", "figure", "median", "spread (min–max)", "target", "met")]
    for result in results:
        for row in result.rows:
            for i, (name, figure) in enumerate(row.figures.items()):
                met = "" if i or row.met is None else ("yes" if row.met else "NO")
                lines.append(
                    (
                        f"{result.name}: {row.case}" if i == 0 else "",
                        name,
                        figure.text(),
                        figure.spread(),
                        row.target if i == 0 else "",
                        met,
                    )
                )
    widths = [min(max(len(line[c]) for line in lines), 70) for c in range(6)]
    for n, line in enumerate(lines):
        print("  ".join(cell[:70].ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * width for width in widths))
    for result in results:
        for note in result.notes:
            print(f"note ({result.name}): {note}")


# -- the document ------------------------------------------------------------------------------


def _results(run: dict) -> dict[str, Result]:
    return {name: Result.from_dict(data) for name, data in run["results"].items()}


def _cell(figure: Figure) -> str:
    if figure.runs <= 1:
        return figure.text()
    return f"{figure.text()} ({fmt(figure.low)}–{fmt(figure.high)})"


def _met(met: bool | None) -> str:
    return "" if met is None else ("✅ met" if met else "❌ not met")


def _contention(cpu: dict) -> str:
    if not cpu:
        return ""
    return f"{cpu['other_cores_median']:.2f} ({cpu['other_cores_max']:.2f})"


def render(store: dict, order: list[str]) -> str:
    labels = list(store["runs"])
    latest = store.get("latest", labels[-1])
    run = store["runs"][latest]
    out = [
        "# Benchmarks",
        "",
        "Measured by `make bench` (`python -m bench`; `python -m bench --help` lists the scenarios, "
        "`python -m bench --quick` is a smoke run of a few minutes, `python -m bench SCENARIO…` runs some alone). "
        "The suite starts everything it measures: the loopback model server (`tests/model_server.py`), fresh "
        "databases (SQLite files; PostgreSQL databases `bench_*`, dropped afterwards), the app under gunicorn, "
        "`rq worker --worker-class webapp.runs.worker.AppWorker` processes on Redis (its own database index, 12), and "
        "wrk or a Python load process. `RATELIMIT_ENABLED=false`, `MAX_RUNNING_PER_USER=0` (one bench user "
        "stands for many), `APP_ENV=production`, no access log.",
        "",
        "Every figure is the median of repeated runs, with the min–max of those runs in brackets (the number of "
        "runs is in the details). Latency percentiles are per run (wrk's, or the load process's), then the median "
        "over runs.",
        "",
        "**This machine is shared**: other people's test suites may run on the same 2 cores while the suite runs. "
        "Each case records the CPU used by other processes during its measurement (the *other cores* column: median "
        "over runs, worst in brackets, in cores out of 2). Treat figures taken with more than ~0.3 other cores "
        "as pessimistic.",
        "",
    ]
    current = _current(store, labels, order)
    used = [label for label in labels if any(found == label for found, _ in current.values())]
    out += _machine(run, {label: store["runs"][label] for label in used})
    out += ["## Summary", ""]
    out += _summary(current, order)
    out += ["", "## Throughput against worker count", "", "![throughput](benchmarks-throughput.svg)", ""]
    out += [
        "## How these figures came about",
        "",
        "What was changed to reach them, what each change gained (measured by interleaved A/B with "
        "`python -m bench.compare`), what was tried and not kept, and the tables of every earlier run: "
        "[bench/analysis.md](../bench/analysis.md).",
        "",
        "## Details",
        "",
    ]
    for name in order:
        if name in current:
            label, result = current[name]
            out += _section(result, store["runs"][label]["results"][name])
    out += ["<!-- bench-data", json.dumps(store, ensure_ascii=False), "-->", ""]
    return "\n".join(out)


def _current(store: dict, labels: list[str], order: list[str]) -> dict[str, tuple[str, Result]]:
    """Each scenario's newest measurement: (the run's label, its result)."""
    found: dict[str, tuple[str, Result]] = {}
    for label in labels:
        for name, result in _results(store["runs"][label]).items():
            if name in order:
                found[name] = (label, result)
    return found


def _machine(run: dict, used: dict[str, dict]) -> list[str]:
    m, v = run["machine"], run["versions"]
    out = [
        "## Machine and versions",
        "",
        f"- **CPU**: {m['cpu']}, {m['cores']} cores; **RAM**: {m['ram_gb']} GB; **kernel**: Linux {m['kernel']} "
        f"({m['os']})",
        "- **Versions**: " + ", ".join(f"{name} {version}" for name, version in v.items()),
        f"- **gunicorn**: `--worker-class gthread`, {run['gunicorn']} (see the gunicorn scenario); "
        "local mode runs executions in each gunicorn worker's executor (`LOCAL_WORKERS=8`)",
        "- **Runs behind these figures** (each scenario's newest; the *run* column of the summary): "
        + "; ".join(
            f"**{label}**, commit {each.get('commit', 'n/a')}: " + "; ".join(each.get("invocations", [])[-3:])
            for label, each in used.items()
        ),
        "",
    ]
    return out


def _summary(current: dict[str, tuple[str, Result]], order: list[str]) -> list[str]:
    out = ["| scenario | case | figure | target | now | run | other cores |", "|---|---|---|---|---|---|---|"]
    for name in order:
        if name not in current:
            continue
        label, result = current[name]
        for row in result.rows:
            if not row.target or row.headline_name not in row.figures:
                continue
            figure = row.figures[row.headline_name]
            out.append(
                f"| {result.title} | {row.case} | {row.headline_name} | {row.target} | "
                f"{_cell(figure)} {_met(row.met)} | {label} | {_contention(row.cpu)} |"
            )
    return out


def _section(result: Result, raw: dict) -> list[str]:
    quick = " (**quick run**: smaller counts, fewer repeats)" if raw.get("quick") else ""
    out = [f"### {result.title}", "", f"_Measured {raw.get('when', '?')}{quick}._ {result.measures}", ""]
    out += [
        "| case | figure | median (min–max) | runs | target | conditions | other cores |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result.rows:
        for i, (name, figure) in enumerate(row.figures.items()):
            first = i == 0
            out.append(
                f"| {row.case if first else ''} | {name} | {_cell(figure)} | {figure.runs} | "
                f"{(row.target + ' ' + _met(row.met)).strip() if first else ''} | {row.conditions if first else ''} | "
                f"{_contention(row.cpu) if first else ''} |"
            )
    out.append("")
    out += [f"- {note}" for note in result.notes]
    if result.notes:
        out.append("")
    if result.name == "profile":
        out += _profiles(result.extra)
    return out


def _profiles(extra: dict) -> list[str]:
    out = []
    for name, summary in extra.items():
        out += [f"#### {name} ({summary['samples']:,} samples)", ""]
        out += ["| inclusive (webapp) | % | self (top frame) | % | package (self) | % |", "|---|---|---|---|---|---|"]
        columns = [summary["inclusive_webapp"], summary["self"], summary["packages"]]
        for i in range(max(len(c) for c in columns)):
            cells = []
            for column in columns:
                key, share = column[i] if i < len(column) else ("", "")
                cells += [f"`{key}`" if key else "", f"{share}" if key else ""]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return out


# -- the chart ---------------------------------------------------------------------------------------

COLOURS = {"sqlite": "#1f77b4", "postgres": "#d62728"}
NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def chart(store: dict) -> str | None:
    """Throughput against rq worker count (queue mode), local mode as dashed levels."""
    latest = store.get("latest")
    labels = [label for label in store["runs"] if "throughput" in store["runs"][label]["results"]]
    if not labels:
        return None
    label = latest if latest in labels else labels[-1]
    points = store["runs"][label]["results"]["throughput"]["extra"]["points"]
    width, height, left, right, top, bottom = 700, 380, 60, 230, 40, 50
    peak = max([p["high"] for p in points] + [220]) * 1.15
    xs = {1: 0, 2: 1, 4: 2}

    def x(workers: int) -> float:
        return left + 40 + xs[workers] * (width - left - right - 80) / 2

    def y(value: float) -> float:
        return top + (height - top - bottom) * (1 - value / peak)

    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2 - 60}" y="22" text-anchor="middle" font-size="14" font-weight="bold">'
        f"Executions completed per second ({label})</text>",
    ]
    step = _nice_step(peak)
    value = 0.0
    while value <= peak:
        svg.append(f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#eee"/>')
        svg.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:g}</text>')
        value += step
    svg.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="#333"/>')
    svg.append(f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" stroke="#333"/>')
    for workers in xs:
        svg.append(f'<text x="{x(workers):.1f}" y="{height - bottom + 18}" text-anchor="middle">{workers}</text>')
    svg.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">rq workers (queue mode)</text>'
    )
    svg.append(
        f'<text x="16" y="{(top + height - bottom) / 2}" transform="rotate(-90 16 {(top + height - bottom) / 2})" '
        'text-anchor="middle">completed / s</text>'
    )
    svg.append(
        f'<line x1="{left}" x2="{width - right}" y1="{y(220):.1f}" y2="{y(220):.1f}" stroke="#2ca02c" '
        'stroke-dasharray="6 4"/>'
    )
    legend = [("#2ca02c", "6 4", "target 220/s")]
    for db in ("sqlite", "postgres"):
        colour = COLOURS[db]
        queue = sorted((p for p in points if p["db"] == db and p["mode"] == "queue"), key=lambda p: p["workers"])
        if queue:
            path = " ".join(
                f"{'M' if i == 0 else 'L'}{x(p['workers']):.1f},{y(p['median']):.1f}" for i, p in enumerate(queue)
            )
            svg.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            for p in queue:
                cx = x(p["workers"])
                svg.append(
                    f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(p["low"]):.1f}" y2="{y(p["high"]):.1f}" '
                    f'stroke="{colour}"/>'
                )
                svg.append(f'<circle cx="{cx:.1f}" cy="{y(p["median"]):.1f}" r="4" fill="{colour}"/>')
                svg.append(
                    f'<text x="{cx + 7:.1f}" y="{y(p["median"]) - 6:.1f}" fill="{colour}">{p["median"]:.0f}</text>'
                )
            legend.append((colour, "", f"{NAMES[db]}, queue"))
        local = next((p for p in points if p["db"] == db and p["mode"] == "local"), None)
        if local:
            svg.append(
                f'<line x1="{left}" x2="{width - right}" y1="{y(local["median"]):.1f}" '
                f'y2="{y(local["median"]):.1f}" stroke="{colour}" stroke-dasharray="2 3"/>'
            )
            legend.append((colour, "2 3", f"{NAMES[db]}, local: {local['median']:.0f}/s"))
    for i, (colour, dash, text) in enumerate(legend):
        ly = top + 10 + i * 20
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        svg.append(
            f'<line x1="{width - right + 12}" x2="{width - right + 36}" y1="{ly}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2"{dashed}/>'
        )
        svg.append(f'<text x="{width - right + 42}" y="{ly + 4}">{text}</text>')
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def _nice_step(peak: float) -> float:
    for step in (10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if peak / step <= 8:
            return step
    return 2000


def write(store: dict, order: list[str]) -> None:
    DOC.parent.mkdir(exist_ok=True)
    svg = chart(store)
    if svg is not None:
        CHART.write_text(svg)
    DOC.write_text(render(store, order))
