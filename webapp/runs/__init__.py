"""The run lifecycle in one place, layered without cycles (each imports only those above it):

``rq_contract``  every rq internal relied on, named once
``cancels``      a cancel heard at once by the process running the execution
``records``      node rows as the runner reports them; settling from outside a run
``heartbeat``    proof of life for the executions a process holds
``fairshare``    MAX_RUNNING_PER_USER: the claim's bound, held-back runs, waking them
``places``       a run's place, lent to its child runs while it waits only on them
``children``     a ``workflow`` node's child run, in its parent's thread (the one exception
                 to the layering: it hands what a child's end woke to ``dispatch``, imported
                 when called)
``execution``    one run: claim, engine (user code in sandbox processes), finish
``executor``     the threads of a process that run executions, a bounded number at once
``dispatch``     local mode (this process's executor) or queue mode (RQ), and what follows a run
``recovery``     the reaper: lost workers, overrunning runs, vanished jobs, missed wakes
``worker``       the RQ worker class; ``jobs`` the RQ job
``start``        starting a run (API, UI, webhook, schedule), waiting for it, cancel and retry
``schedules``    the scheduler: each due schedule's run, exactly once per due time

Nothing in ``services/`` imports this package: runs read services (definitions,
limits, providers), never the other way round.
"""

from __future__ import annotations

from flask import Flask

from .dispatch import dispatcher
from .execution import sandboxes
from .records import settle
from .recovery import reaper

__all__ = ["dispatcher", "settle", "start_recovery", "start_sandboxes"]


def start_recovery(app: Flask) -> None:
    """Start this process's reaper now, not at its first request: a restarted server
    with no traffic must still settle what its dead predecessor left."""
    reaper(app).ensure_running()


def start_sandboxes(app: Flask, *, worker: bool = False) -> None:
    """Start this process's first sandbox now, before it takes a request or a job, not
    at its first step (which waited ~3 s for it), where the process runs executions: an
    rq worker (``worker``), or a web process in local mode. Servers and workers call it
    as they start; an app made for a test or a command starts none until a step needs one."""
    if worker or dispatcher(app).mode == "local":
        sandboxes(app).warm()
