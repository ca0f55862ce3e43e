"""deliveries: a terminal status "cancelled" (the order was refunded or disputed)

Revision ID: 5c1e2f3a9d07
Revises: 0b0af190d866
Create Date: 2026-11-30 01:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '5c1e2f3a9d07'
down_revision = '0b0af190d866'
branch_labels = None
depends_on = None

OLD = "status IN ('queued', 'running', 'needs_reconnect', 'done', 'failed')"
NEW = "status IN ('queued', 'running', 'needs_reconnect', 'done', 'failed', 'cancelled')"


def _replace_status_check(condition: str) -> None:
    # SQLite cannot alter a constraint: batch mode copies the table (indexes included).
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('ck_deliveries_status', type_='check')
        batch_op.create_check_constraint('ck_deliveries_status', condition)


def upgrade():
    _replace_status_check(NEW)


def downgrade():
    # A cancelled delivery has no older name; "failed" keeps its message and offers no retry harm.
    op.execute("UPDATE deliveries SET status = 'failed' WHERE status = 'cancelled'")
    _replace_status_check(OLD)
