"""Where an execution came from: what started it (``trigger``, ``trigger_id``) and,
for a ``workflow`` node's child run, the execution it runs inside.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("trigger", sa.String(length=16), nullable=False, server_default="api"))
        table.add_column(sa.Column("trigger_id", sa.String(length=40), nullable=True))
        table.add_column(sa.Column("parent_execution_id", sa.String(length=40), nullable=True))
        table.create_foreign_key("fk_executions_parent", "executions", ["parent_execution_id"], ["id"])
        table.create_index("ix_executions_parent_execution_id", ["parent_execution_id"])


def downgrade():
    with op.batch_alter_table("executions") as table:
        table.drop_index("ix_executions_parent_execution_id")
        table.drop_constraint("fk_executions_parent", type_="foreignkey")
        table.drop_column("parent_execution_id")
        table.drop_column("trigger_id")
        table.drop_column("trigger")
