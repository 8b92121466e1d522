"""Fair share: executions held back for their owner's running limit, and the index
that counts a user's running executions.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waiting_since", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_executions_user_status", ["user_id", "status"], unique=False)


def downgrade():
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_index("ix_executions_user_status")
        batch_op.drop_column("waiting_since")
