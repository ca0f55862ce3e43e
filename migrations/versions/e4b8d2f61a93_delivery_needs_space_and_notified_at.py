"""deliveries: an active status "needs_space" (the buyer's Dropbox is full) and notified_at

Revision ID: e4b8d2f61a93
Revises: c8d4f1a2b6e9
Create Date: 2026-11-30 01:20:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e4b8d2f61a93'
down_revision = 'c8d4f1a2b6e9'
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('queued', 'running', 'needs_reconnect', 'done', 'failed', 'cancelled')"
NEW_STATUSES = "status IN ('queued', 'running', 'needs_reconnect', 'done', 'failed', 'cancelled', 'needs_space')"
OLD_ACTIVE = "status IN ('queued', 'running', 'needs_reconnect')"
NEW_ACTIVE = "status IN ('queued', 'running', 'needs_reconnect', 'needs_space')"


def _replace(statuses: str, active: str) -> None:
    # SQLite cannot alter a constraint: batch mode copies the table. The partial unique index
    # ("one active delivery per order, target and format") is rebuilt with the new active set.
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('uq_deliveries_one_active')
        batch_op.drop_constraint('ck_deliveries_status', type_='check')
        batch_op.create_check_constraint('ck_deliveries_status', statuses)
        batch_op.create_index('uq_deliveries_one_active', ['order_id', 'target', 'format'], unique=True,
                              sqlite_where=sa.text(active), postgresql_where=sa.text(active))


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True))
    _replace(NEW_STATUSES, NEW_ACTIVE)


def downgrade():
    # Waiting for space has no older name: "failed" keeps the message, and its Retry still works.
    op.execute("UPDATE deliveries SET status = 'failed' WHERE status = 'needs_space'")
    _replace(OLD_STATUSES, OLD_ACTIVE)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('notified_at')
