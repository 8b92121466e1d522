"""The scheduler across processes: exactly one execution per due time, however many
web processes look for due schedules at once, in local mode and with RQ workers."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.conftest import close_app, make_app, make_user
from tests.definitions import model_definition, workflow_body
from tests.waiting import eventually
from tests.web_server import Gunicorn
from webapp.extensions import db
from webapp.models import Execution, Trigger, utcnow

ROUNDS = 3


def count_runs(app, trigger_id: str, *, finished: bool = False) -> int:
    with app.app_context():
        query = select(func.count()).select_from(Execution).where(Execution.trigger_id == trigger_id)
        if finished:
            query = query.where(Execution.status == "completed")
        count = db.session.scalar(query)
        db.session.commit()
        return count


@pytest.mark.parametrize("execution_mode", ["local", "queue"])
def test_two_web_processes_start_one_execution_per_due_time(execution_mode, database_url, model, request):
    settings = {"SCHEDULER_INTERVAL": 0.05, "SCHEDULE_MIN_INTERVAL": 1}
    if execution_mode == "queue":
        redis_url = request.getfixturevalue("redis_url")
        worker = request.getfixturevalue("shared_workers")(database_url, redis_url)
        settings |= {"REDIS_URL": redis_url, "RQ_QUEUE": worker.queue}
    app = make_app(database_url, model.base_url)
    _, key = make_user(app, "scheduled@example.com")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    definition = model_definition(cache=False)
    workflow = client.post("/api/v1/workflows", json=workflow_body(definition=definition), headers=auth).json
    body = {"type": "schedule", "interval_seconds": 3600, "inputs": {"text": "tick"}}
    trigger = client.post(f"/api/v1/workflows/{workflow['id']}/triggers", json=body, headers=auth).json
    server = Gunicorn(database_url, model.base_url, workers=2, **settings).start()
    try:
        for round_ in range(1, ROUNDS + 1):
            with app.app_context():  # due now (the next one is an hour away)
                db.session.execute(
                    update(Trigger)
                    .where(Trigger.id == trigger["id"])
                    .values(next_run_at=utcnow() - timedelta(seconds=1))
                )
                db.session.commit()
            eventually(
                lambda: count_runs(app, trigger["id"]), until=lambda n, at=round_: n >= at, timeout=15, what="the run"
            )
            time.sleep(1)  # both processes looked twenty times more: nothing more may start
            assert count_runs(app, trigger["id"]) == round_
        eventually(
            lambda: count_runs(app, trigger["id"], finished=True) >= ROUNDS, timeout=20, what="every run to finish"
        )
        assert count_runs(app, trigger["id"], finished=True) == ROUNDS
        assert model.call_count == ROUNDS
    finally:
        server.kill()
        close_app(app)
