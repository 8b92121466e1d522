"""RQ's floor: what the rq this project pins can do on this machine with nothing to
do. Two ``rq.SimpleWorker`` processes drain no-op jobs enqueued with
``result_ttl=0``; the figure is jobs ÷ (the queue drained − the first enqueue). The
throughput scenario reports queue mode against it, measured in the same run: no
execution can be handed over faster than RQ hands over an empty job.
"""

from __future__ import annotations

import time
import uuid

from ..core import Context, Result
from ..machine import CpuMeter
from ..stack import REDIS_URL, ROOT, RqWorker, flush_redis
from ..stats import Figure

NAME = "rq_floor"
TITLE = "RQ's floor: no-op jobs drained by 2 rq SimpleWorkers"
WORKERS = 2
JOB = f"{__name__}.noop"


def noop() -> None:
    """The job: nothing, so what is measured is RQ's own hand-over."""


def drain(queue_name: str, count: int) -> float:
    """Enqueue ``count`` no-op jobs in one pipeline; jobs/s until all have run."""
    import redis
    from rq import Queue
    from rq.registry import StartedJobRegistry

    connection = redis.Redis.from_url(REDIS_URL)
    queue = Queue(queue_name, connection=connection)
    started_jobs = StartedJobRegistry(queue=queue)
    jobs = [Queue.prepare_data(JOB, result_ttl=0) for _ in range(count)]
    started = time.perf_counter()
    queue.enqueue_many(jobs)
    while queue.count or started_jobs.count:
        time.sleep(0.002)
    return count / (time.perf_counter() - started)


def run(ctx: Context) -> Result:
    result = Result(
        NAME,
        TITLE,
        f"{WORKERS} `rq worker --worker-class rq.SimpleWorker` processes on the suite's Redis; no-op jobs "
        "(`result_ttl=0`) enqueued in one pipeline; jobs ÷ (queue and started registry empty − first enqueue).",
    )
    count = ctx.pick(5000, 1000)
    queue = f"floor-{uuid.uuid4().hex[:8]}"
    # Run from this checkout (where the no-op job lives), whichever app is measured.
    workers = [RqWorker({}, queue, worker_class="rq.SimpleWorker", app_root=ROOT) for _ in range(WORKERS)]
    try:
        for worker in workers:
            worker.wait_ready()
        drain(queue, 200)  # warm-up: imports, connections
        rates, cpu = [], []
        for _ in range(max(ctx.repeats, 3)):
            with CpuMeter() as meter:
                rates.append(drain(queue, count))
            cpu.append(meter.stop())
    finally:
        for worker in workers:
            worker.stop()
        flush_redis()
    figure = Figure.of(rates, "jobs/s")
    ctx.shared[NAME] = figure.median
    result.add(f"{WORKERS} workers", {"jobs/s": figure}, conditions=f"{count} jobs per run", cpu_samples=cpu)
    return result
