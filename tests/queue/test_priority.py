"""An rq worker yields the CPU to the web (``WORKER_NICE``): on a shared machine the
requests come first. Each test starts its own worker: the setting is read at its start."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.conftest import WorkerProcess


@pytest.mark.parametrize("nice", [0, 7])
def test_a_worker_lowers_its_priority_by_worker_nice(sqlite_url, redis_url, model, nice):
    worker = WorkerProcess(sqlite_url, redis_url, model.base_url, f"nice-{uuid.uuid4().hex[:8]}", WORKER_NICE=nice)
    try:
        worker.wait_ready()
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, worker.process.pid) == min(ours + nice, 19)
    finally:
        worker.stop()
