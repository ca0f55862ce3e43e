"""Payments that hold against real Stripe: a checkout_sessions table (the sessions the store
created, with their amount and currency; a duplicate payment's refund; a delayed payment's
failure), the order status "processing" (a delayed payment on its way) and the dispute states
"closed" (an inquiry that ended), "prevented" and "restored" (by an operator)

Revision ID: f5e2a7b9db05
Revises: f4d1f6a8ca04
Create Date: 2026-12-06 09:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f5e2a7b9db05'
down_revision = 'f4d1f6a8ca04'
branch_labels = None
depends_on = None

OLD_STATUS = "status IN ('pending', 'paid', 'refunded', 'disputed')"
NEW_STATUS = "status IN ('pending', 'processing', 'paid', 'refunded', 'disputed')"
OLD_PAID_AT = "status = 'pending' OR paid_at IS NOT NULL"
NEW_PAID_AT = "status IN ('pending', 'processing') OR paid_at IS NOT NULL"
OLD_DISPUTE = "dispute_status IS NULL OR dispute_status IN ('open', 'won', 'lost')"
NEW_DISPUTE = ("dispute_status IS NULL OR dispute_status IN ('open', 'won', 'lost', 'closed', 'prevented', "
               "'restored')")


def _constraints(status: str, paid_at: str, dispute: str) -> None:
    # SQLite cannot alter a constraint: batch mode copies the table.
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint('ck_orders_status', type_='check')
        batch_op.drop_constraint('ck_orders_paid_at', type_='check')
        batch_op.drop_constraint('ck_orders_dispute_status', type_='check')
        batch_op.create_check_constraint('ck_orders_status', status)
        batch_op.create_check_constraint('ck_orders_paid_at', paid_at)
        batch_op.create_check_constraint('ck_orders_dispute_status', dispute)


def upgrade():
    op.create_table(
        'checkout_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.String(length=255), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('amount_cents', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('payment_intent_id', sa.String(length=255), nullable=True),
        sa.Column('refund_id', sa.String(length=255), nullable=True),
        sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('amount_cents >= 0', name='ck_checkout_sessions_amount'),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('session_id'),
    )
    with op.batch_alter_table('checkout_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkout_sessions_order_id'), ['order_id'], unique=False)
    # The newest session of each pending order was made by the store: keep it payable.
    op.execute(
        "INSERT INTO checkout_sessions (session_id, order_id, amount_cents, currency, created_at) "
        "SELECT checkout_session_id, id, amount_cents, currency, created_at FROM orders "
        "WHERE checkout_session_id IS NOT NULL"
    )
    _constraints(NEW_STATUS, NEW_PAID_AT, NEW_DISPUTE)


def downgrade():
    # No older names: a processing order is not paid yet (pending); the new dispute outcomes
    # all mean access is back, which "won" said before.
    op.execute("UPDATE orders SET status = 'pending' WHERE status = 'processing'")
    op.execute("UPDATE orders SET dispute_status = 'won' WHERE dispute_status IN ('closed', 'prevented', "
               "'restored')")
    _constraints(OLD_STATUS, OLD_PAID_AT, OLD_DISPUTE)
    with op.batch_alter_table('checkout_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkout_sessions_order_id'))
    op.drop_table('checkout_sessions')
