"""Drafts and published versions: one draft per workflow (what the editor changes; nothing
that runs reads it), and who published each version with an optional note. An existing
workflow's draft is its published version. Executions gain what a test run needs: the
draft definition it ran, the node it ran until, and which node outputs were pinned; and
a test run (``trigger = 'test'``) no longer adds to its workflow's ``usage_count`` (the
count trigger of 0006, rewritten; the user's ``execution_counts`` still count every start,
as their history lists every run).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

COUNT = """
    UPDATE workflows SET usage_count = usage_count + 1 WHERE id = NEW.workflow_id AND NEW.trigger <> 'test';
    INSERT INTO execution_counts (user_id, workflow_id, count) VALUES (NEW.user_id, NEW.workflow_id, 1)
        ON CONFLICT (user_id, workflow_id) DO UPDATE SET count = execution_counts.count + 1;
"""
COUNT_0006 = COUNT.replace(" AND NEW.trigger <> 'test'", "")

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("workflow_versions") as batch:
        batch.add_column(sa.Column("published_by", sa.String(40), sa.ForeignKey("users.id"), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.create_table(
        "workflow_drafts",
        sa.Column("workflow_id", sa.String(40), sa.ForeignKey("workflows.id"), primary_key=True),
        sa.Column("definition", JSONType, nullable=False),
        sa.Column("based_on_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO workflow_drafts (workflow_id, definition, based_on_version, updated_at) "
        "SELECT w.id, v.definition, w.version, w.updated_at FROM workflows w "
        "JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.version"
    )
    op.execute(
        "UPDATE workflow_versions SET published_by = "
        "(SELECT owner_id FROM workflows WHERE workflows.id = workflow_versions.workflow_id)"
    )
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("definition", JSONType, nullable=True))
        batch.add_column(sa.Column("run_until", sa.String(64), nullable=True))
    with op.batch_alter_table("node_runs") as batch:
        batch.add_column(sa.Column("pinned", sa.Boolean(), nullable=False, server_default="0"))  # literal: added in place
    _count_starts(COUNT)


def _count_starts(body: str) -> None:
    """The 0006 trigger on ``executions``, with ``body`` as what it does."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION count_execution_start() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN {body} RETURN NULL; END $$"
        )
    else:
        op.execute("DROP TRIGGER IF EXISTS count_start")  # gone if a batch operation rebuilt the table
        op.execute(f"CREATE TRIGGER count_start AFTER INSERT ON executions BEGIN {body} END")


def downgrade():
    with op.batch_alter_table("node_runs") as batch:
        batch.drop_column("pinned")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("run_until")
        batch.drop_column("definition")
    _count_starts(COUNT_0006)  # after: SQLite rebuilds the table to drop a column, and its triggers with it
    op.drop_table("workflow_drafts")
    with op.batch_alter_table("workflow_versions") as batch:
        batch.drop_column("note")
        batch.drop_column("published_by")
