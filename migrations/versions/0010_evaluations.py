"""Evaluations: a workflow's test cases, test runs that score them, and the publish gate
(``workflows.require_passing_tests``); and the outputs pinned in the editor's Test panel
(``workflow_drafts.pins``).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    # Added and dropped in place, not by a batch operation: SQLite would rebuild ``workflows``,
    # which the count trigger on ``executions`` (0006) names.
    op.add_column("workflows", sa.Column("require_passing_tests", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("workflow_drafts", sa.Column("pins", JSONType, nullable=True))
    op.create_table(
        "test_cases",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workflow_id", sa.String(40), sa.ForeignKey("workflows.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("inputs", JSONType, nullable=False),
        sa.Column("checks", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_test_cases_workflow", "test_cases", ["workflow_id", "created_at"])
    op.create_table(
        "test_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workflow_id", sa.String(40), sa.ForeignKey("workflows.id"), nullable=False),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("definition_digest", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_test_runs_workflow", "test_runs", ["workflow_id", "created_at"])
    op.create_index("ix_test_runs_digest", "test_runs", ["workflow_id", "definition_digest", "created_at"])
    op.create_index("ix_test_runs_status", "test_runs", ["status"])
    op.create_table(
        "test_run_cases",
        sa.Column("test_run_id", sa.String(40), sa.ForeignKey("test_runs.id"), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("test_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("checks", JSONType, nullable=False),
        sa.Column("execution_id", sa.String(40), sa.ForeignKey("executions.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("results", JSONType, nullable=True),
        sa.Column("detail", sa.String(1000), nullable=True),
        sa.Column("scored_at", sa.DateTime(), nullable=True),
        sa.Column("scoring_since", sa.DateTime(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
    )
    op.create_index("ix_test_run_cases_execution", "test_run_cases", ["execution_id"])


def downgrade():
    op.drop_table("test_run_cases")
    op.drop_table("test_runs")
    op.drop_table("test_cases")
    op.execute("ALTER TABLE workflow_drafts DROP COLUMN pins")  # SQLite 3.35 and later, PostgreSQL
    op.execute("ALTER TABLE workflows DROP COLUMN require_passing_tests")
