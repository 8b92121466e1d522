"""A start is counted by the database: a trigger on ``executions`` adds one to the
workflow's ``usage_count`` and to the user's row in ``execution_counts``.

Counted in the request, every start of one workflow held that workflow's row (and the
user's count row) locked from its UPDATE to its COMMIT, two round trips with the
request's thread waiting for the GIL between them, and the other starts of that
workflow queued behind it: the longest waits of a busy async execute were there. On
PostgreSQL the trigger is deferred to the COMMIT, so the rows are held only while the
commit itself runs. SQLite writes one transaction at a time anyway: a plain trigger.
Every insert into ``executions`` is a start (an API or UI run, a retry, a schedule's
or webhook's run, a workflow node's child run), so every insert counts, once.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COUNT = """
    UPDATE workflows SET usage_count = usage_count + 1 WHERE id = NEW.workflow_id;
    INSERT INTO execution_counts (user_id, workflow_id, count) VALUES (NEW.user_id, NEW.workflow_id, 1)
        ON CONFLICT (user_id, workflow_id) DO UPDATE SET count = execution_counts.count + 1;
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION count_execution_start() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN {COUNT} RETURN NULL; END $$"
        )
        op.execute(
            "CREATE CONSTRAINT TRIGGER count_start AFTER INSERT ON executions "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_execution_start()"
        )
    else:
        op.execute(f"CREATE TRIGGER count_start AFTER INSERT ON executions BEGIN {COUNT} END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER count_start ON executions")
        op.execute("DROP FUNCTION count_execution_start()")
    else:
        op.execute("DROP TRIGGER count_start")
