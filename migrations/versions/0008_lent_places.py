"""Executions carry ``lending``: a running execution waiting only on its own child runs
lends its place among its owner's ``MAX_RUNNING_PER_USER`` to them (``runs/places.py``),
so nesting never multiplies a user's share and children never wait on a parent's place.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("executions") as batch:
        # A literal default: SQLite adds the column in place (an expression would make the batch
        # copy the table, dropping migration 0006's trigger with it).
        batch.add_column(sa.Column("lending", sa.Boolean(), nullable=False, server_default="0"))


def downgrade():
    bind = op.get_bind()
    # SQLite drops a column by rebuilding the table, and the table's triggers (0006's) with it.
    kept = (
        bind.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'executions'"))
        .scalars()
        .all()
        if bind.dialect.name == "sqlite"
        else []
    )
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("lending")
    for trigger in kept:
        op.execute(trigger)
