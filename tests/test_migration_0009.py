"""Migration 0009 on a database that holds workflows already (SQLite and PostgreSQL):
each existing workflow's draft is its published version, its versions name their
publisher, and a test run no longer adds to the workflow's usage_count while every
other start still does."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from tests.conftest import POSTGRES_ADMIN_URL, close_app, make_app
from webapp.extensions import db

# A start as 0008's schema holds it (the columns 0009 adds have defaults or allow null).
START = text(
    "INSERT INTO executions (id, workflow_id, workflow_version, user_id, trigger, status, inputs, created_at, queue,"
    " prompt_tokens, completion_tokens, total_tokens, cost_usd, cost_saved_usd)"
    " VALUES (:id, 'wf_a', 2, 'user_a', :trigger, 'completed', '{}', :now, 'local', 0, 0, 0, 0, 0)"
)


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request, tmp_path) -> Iterator[str]:
    """A database no test has migrated yet (migrations run here, by hand)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"wf_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_existing_workflows_get_their_published_version_as_draft(fresh_url, model_server):
    app = make_app(fresh_url, model_server.base_url)  # migrated to the head; stepped back below
    try:
        with app.app_context():
            downgrade(revision="0008")
            now = "2026-01-02 03:04:05"
            for statement in (
                "INSERT INTO users (id, email, password_hash, created_at, token_budget, cost_budget) "
                "VALUES ('user_a', 'a@example.com', 'x', :now, NULL, NULL)",
                "INSERT INTO workflows (id, owner_id, name, description, category, public, version, usage_count,"
                " rating_count, created_at, updated_at) VALUES ('wf_a', 'user_a', 'Old', '', 'general', false, 2, 0,"
                " 0, :now, :now)",
                "INSERT INTO workflow_versions (workflow_id, version, definition, created_at) VALUES"
                " ('wf_a', 1, '{\"nodes\": [1], \"connections\": []}', :now),"
                " ('wf_a', 2, '{\"nodes\": [2], \"connections\": []}', :now)",
            ):
                db.session.execute(text(statement), {"now": now})
            db.session.commit()
            upgrade()
            draft = db.session.execute(text("SELECT definition, based_on_version FROM workflow_drafts")).one()
            definition = draft[0] if isinstance(draft[0], dict) else json.loads(draft[0])
            assert definition == {"nodes": [2], "connections": []} and draft[1] == 2
            publishers = db.session.execute(text("SELECT DISTINCT published_by FROM workflow_versions")).all()
            assert publishers == [("user_a",)]
            for trigger in ("api", "test", "webhook"):
                db.session.execute(START, {"id": f"exec_{trigger}", "trigger": trigger, "now": now})
            db.session.commit()
            assert db.session.execute(text("SELECT usage_count FROM workflows")).scalar() == 2  # not the test run
            assert db.session.execute(text("SELECT count FROM execution_counts")).scalar() == 3  # history: all
            db.session.execute(text("DELETE FROM executions"))
            db.session.execute(text("DELETE FROM execution_counts"))
            db.session.commit()
            downgrade(revision="0008")  # and back (SQLite rebuilds tables to drop columns: the trigger must survive)
            upgrade()
            db.session.execute(START, {"id": "exec_again", "trigger": "api", "now": now})
            db.session.commit()
            assert db.session.execute(text("SELECT usage_count FROM workflows")).scalar() == 3
            db.session.commit()  # the read above holds a lock the migration waits for on PostgreSQL
            downgrade(revision="0007")  # 0008 drops its column the same way: the trigger survives that too
            db.session.execute(START, {"id": "exec_older", "trigger": "api", "now": now})
            db.session.commit()
            assert db.session.execute(text("SELECT usage_count FROM workflows")).scalar() == 4
    finally:
        with app.app_context():
            db.session.remove()
        close_app(app)
