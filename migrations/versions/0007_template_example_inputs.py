"""Templates carry ``example_inputs``: the inputs each one runs with as it is, which the
run form of a workflow made from it starts from. Seeding fills them from the catalogue.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("templates") as batch:
        batch.add_column(sa.Column("example_inputs", JSONType, nullable=False, server_default="{}"))


def downgrade():
    with op.batch_alter_table("templates") as batch:
        batch.drop_column("example_inputs")
