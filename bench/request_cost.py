"""Where one async execute's CPU goes, piece by piece, in one thread.

``python -m bench.request_cost [--calls 400] [--sets 5]``: a fresh PostgreSQL database,
Redis (queue mode, no worker: the bench's Redis database is flushed at the end) and the
app in this process. Each piece is timed in CPU (``time.process_time``) over ``--calls``
calls, the pieces taking turns set after set so a machine whose speed drifts weighs on
all alike; each piece ends with a COMMIT, as a request ends its own. The figures behind
issue 17's analysis of a 202's cost.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
import uuid
from collections.abc import Callable

from .stack import Database, app_env, create_account, flush_redis
from .workflows import ECHO_INPUTS, echo


def _app(database: Database):
    """The app as the bench's servers run it (``app_env``), in queue mode; no model is
    called, and no reaper or scheduler runs beside the measures."""
    queue = f"bench-cost-{uuid.uuid4().hex[:8]}"
    os.environ.update(app_env(database, "", queue, REAPER_ENABLED="false", SCHEDULER_ENABLED="false"))
    from webapp import create_app

    app = create_app()
    logging.getLogger().setLevel(logging.WARNING)  # create_app turns INFO on for the servers
    return app


def _pieces(app, key: str, headers: dict, workflow_id: str) -> dict[str, Callable[[], object]]:
    from sqlalchemy import text

    from webapp.auth.accounts import api_key_holder
    from webapp.extensions import db
    from webapp.models import new_id
    from webapp.runs import dispatcher
    from webapp.runs.rows import insert_execution
    from webapp.runs.start import start_execution
    from webapp.services import audit
    from webapp.services.definitions import graph_for
    from webapp.services.workflows import runnable_workflow

    user, _ = api_key_holder(key)
    workflow = runnable_workflow(user, workflow_id)
    graph = graph_for(workflow.id, workflow.version)
    lane = dispatcher()

    def committed(work: Callable[[], object]) -> Callable[[], object]:
        def piece():
            result = work()
            db.session.commit()
            return result

        return piece

    def execution_rows():
        execution_id = new_id("exec")
        fields = {"workflow_id": workflow.id, "workflow_version": workflow.version, "user_id": user.id}
        return insert_execution(
            graph, execution_id, inputs=ECHO_INPUTS, queue=lane.lane, job_id=lane.new_job_id(execution_id), **fields
        )

    def with_audit():
        execution = execution_rows()
        audit.record("execution.started", user, "execution", execution.id, details={"workflow_id": workflow.id})

    enqueued = committed(execution_rows)()
    client = app.test_client()
    body = {"inputs": ECHO_INPUTS, "async": True}
    return {
        "BEGIN; SELECT 1; COMMIT through the session": committed(lambda: db.session.execute(text("SELECT 1"))),
        "the API key's lookup + COMMIT": committed(lambda: api_key_holder(key)),
        "the workflow's read + COMMIT": committed(lambda: runnable_workflow(user, workflow_id)),
        "the execution and its node rows + COMMIT": committed(execution_rows),
        "the same with the audit row": committed(with_audit),
        "the rq enqueue": lambda: lane.submit(enqueued.id, enqueued.job_id),
        "start_execution whole": lambda: start_execution(user, workflow_id, ECHO_INPUTS),
        "the whole request (Flask's test client)": lambda: client.post(
            f"/api/v1/workflows/{workflow_id}/execute", json=body, headers=headers
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per piece per set")
    parser.add_argument("--sets", type=int, default=5)
    args = parser.parse_args()
    database = Database("postgres", "cost")
    try:
        database.migrate()
        key = create_account(database.url)
        app = _app(database)
        headers = {"Authorization": f"Bearer {key}"}
        workflow_id = (
            app.test_client().post("/api/v1/workflows", json={"name": "cost", **echo()}, headers=headers).json["id"]
        )
        with app.test_request_context():
            pieces = _pieces(app, key, headers, workflow_id)
            spent: dict[str, list[float]] = {name: [] for name in pieces}
            for _ in range(args.sets):
                for name, piece in pieces.items():
                    for _ in range(args.calls // 8):  # warm: statement caches, prepared statements
                        piece()
                    started = time.process_time()
                    for _ in range(args.calls):
                        piece()
                    spent[name].append((time.process_time() - started) * 1000 / args.calls)
            from webapp.extensions import db

            db.session.remove()
            db.engine.dispose()
        print("| piece | CPU per call, median | spread |\n|---|---|---|")
        for name, values in spent.items():
            print(f"| {name} | {statistics.median(values):.2f} ms | {min(values):.2f}–{max(values):.2f} |")
    finally:
        flush_redis()
        database.drop()


if __name__ == "__main__":
    main()
