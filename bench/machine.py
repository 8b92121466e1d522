"""What the figures ran on: the machine, the versions, and how busy the CPU was.

Other people's processes may share this machine while the suite runs, so every
measurement also records the CPU the rest of the machine used meanwhile
(``CpuMeter``): figures taken under contention say so in the report.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata

SERVICE_COMMANDS = {"postgres", "redis-server"}  # shared services: busy for us, and maybe for others
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_info() -> dict:
    cpu = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        total_kb = int(next(line for line in handle if line.startswith("MemTotal")).split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(total_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _os_name(),
    }


def _os_name() -> str:
    try:
        with open("/etc/os-release") as handle:
            fields = dict(line.rstrip().split("=", 1) for line in handle if "=" in line)
        return fields.get("PRETTY_NAME", "").strip('"')
    except OSError:
        return platform.system()


def versions(redis_url: str, postgres_admin_url: str) -> dict:
    found = {"Python": platform.python_version()}
    for name in ("Flask", "Werkzeug", "SQLAlchemy", "rq", "redis", "gunicorn", "psycopg", "openai"):
        try:
            found[name if name != "redis" else "redis-py"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    try:
        import redis

        found["Redis server"] = redis.Redis.from_url(redis_url).info("server")["redis_version"]
    except Exception as exc:  # reported, not fatal: the scenarios needing it will fail loudly
        found["Redis server"] = f"unreachable ({type(exc).__name__})"
    try:
        import psycopg

        with psycopg.connect(postgres_admin_url, connect_timeout=3) as conn:
            found["PostgreSQL"] = conn.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:
        found["PostgreSQL"] = f"unreachable ({type(exc).__name__})"
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        found["wrk"] = (out.stdout or out.stderr).split()[1]
    except (OSError, IndexError):
        found["wrk"] = "not installed"
    return found


# -- processes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    start: int  # start time in ticks: (pid, start) names a process even when pids are reused
    ticks: int  # user + system CPU so far


def processes() -> dict[tuple[int, int], Proc]:
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                raw = handle.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        proc = Proc(int(entry), int(fields[1]), comm, int(fields[19]), int(fields[11]) + int(fields[12]))
        found[(proc.pid, proc.start)] = proc
    return found


def descendants(root: int, table: dict[tuple[int, int], Proc] | None = None) -> set[int]:
    table = table or processes()
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    seen, stack = {root}, [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def tree_cpu_seconds(root: int) -> float:
    """CPU used so far by a process and its descendants alive now (a gunicorn master and
    its workers)."""
    table = processes()
    tree = descendants(root, table)
    return sum(proc.ticks for proc in table.values() if proc.pid in tree) / CLOCK_TICKS


def reaped_children_ticks() -> int:
    times = os.times()
    return round((times.children_user + times.children_system) * CLOCK_TICKS)


def _busy_ticks() -> int:
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle


class CpuMeter:
    """CPU used during a measurement, in cores: by this suite's processes, by the
    shared database services, and by everything else on the machine."""

    def __init__(self) -> None:
        self.root = os.getpid()

    def __enter__(self) -> CpuMeter:
        self.started = time.monotonic()
        self.busy0 = _busy_ticks()
        self.reaped0 = reaped_children_ticks()
        self.procs0 = processes()
        self.load0 = os.getloadavg()[0]
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> dict:
        if hasattr(self, "result"):
            return self.result
        elapsed = max(time.monotonic() - self.started, 1e-6)
        busy = _busy_ticks() - self.busy0
        procs1 = processes()
        ours_pids = descendants(self.root, procs1) | descendants(self.root, self.procs0)
        # Children that ended meanwhile (wrk, the load process) are gone from /proc; their
        # CPU is in os.times() once waited for.
        ours = reaped_children_ticks() - self.reaped0
        services = 0
        for key, proc in procs1.items():
            if key in self.procs0 and proc.pid not in ours_pids and proc.comm not in SERVICE_COMMANDS:
                continue  # someone else's: counted as the remainder
            spent = proc.ticks - (self.procs0[key].ticks if key in self.procs0 else 0)
            if proc.pid in ours_pids:
                ours += spent
            elif proc.comm in SERVICE_COMMANDS:
                services += spent
        seconds = CLOCK_TICKS * elapsed
        self.result = {
            "seconds": round(elapsed, 2),
            "busy_cores": round(busy / seconds, 2),
            "suite_cores": round(ours / seconds, 2),
            "service_cores": round(services / seconds, 2),
            # Whatever is left: other people's processes (and any of theirs that ended meanwhile).
            "other_cores": round(max(busy - ours - services, 0) / seconds, 2),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }
        return self.result


def merge_cpu(samples: list[dict]) -> dict:
    """The worst contention seen over repeated runs (what a reader should weigh)."""
    if not samples:
        return {}
    return {
        "other_cores_max": max(s["other_cores"] for s in samples),
        "other_cores_median": sorted(s["other_cores"] for s in samples)[len(samples) // 2],
        "busy_cores_median": sorted(s["busy_cores"] for s in samples)[len(samples) // 2],
        "loadavg_1m_max": max(s["loadavg_1m"] for s in samples),
    }


# -- memory ------------------------------------------------------------------------------------


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB. PSS shares pages shared between processes (gunicorn's
    forked workers) fairly; a sum of RSS counts them once per process."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                    break
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                    break
    except OSError:
        pass
    return rss, pss


def tree_memory_kb(roots: list[int]) -> tuple[int, int]:
    """RSS and PSS summed over ``roots`` and all their descendants."""
    table = processes()
    pids: set[int] = set()
    for root in roots:
        pids |= descendants(root, table)
    totals = [memory_kb(pid) for pid in pids]
    return sum(r for r, _ in totals), sum(p for _, p in totals)
