"""Stripe payments: a payment_events table (each webhook event once), and on orders the
refunded amount, a dispute state, the status "disputed", and the Checkout Session and
PaymentIntent ids

Revision ID: c8d4f1a2b6e9
Revises: e3b5a9c4d217
Create Date: 2026-11-30 01:45:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c8d4f1a2b6e9'
down_revision = 'e3b5a9c4d217'
branch_labels = None
depends_on = None

OLD_STATUS = "status IN ('pending', 'paid', 'refunded')"
NEW_STATUS = "status IN ('pending', 'paid', 'refunded', 'disputed')"


def upgrade():
    op.create_table(
        'payment_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=255), nullable=False),
        sa.Column('type', sa.String(length=100), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_id'),
    )
    with op.batch_alter_table('payment_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_events_order_id'), ['order_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refunded_cents', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('dispute_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('checkout_session_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('checkout_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('payment_intent_id', sa.String(length=255), nullable=True))
        batch_op.create_index('ix_orders_payment_intent_id', ['payment_intent_id'], unique=True)
        batch_op.drop_constraint('ck_orders_status', type_='check')
        batch_op.create_check_constraint('ck_orders_status', NEW_STATUS)
        batch_op.create_check_constraint('ck_orders_refunded',
                                         'refunded_cents >= 0 AND refunded_cents <= amount_cents')
        batch_op.create_check_constraint('ck_orders_dispute_status',
                                         "dispute_status IS NULL OR dispute_status IN ('open', 'won', 'lost')")
        batch_op.create_check_constraint('ck_orders_disputed',
                                         "status != 'disputed' OR dispute_status IN ('open', 'lost')")


def downgrade():
    # A disputed order has no older name; it is not paid, so "refunded" keeps its access closed.
    op.execute("UPDATE orders SET status = 'refunded' WHERE status = 'disputed'")
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint('ck_orders_disputed', type_='check')
        batch_op.drop_constraint('ck_orders_dispute_status', type_='check')
        batch_op.drop_constraint('ck_orders_refunded', type_='check')
        batch_op.drop_constraint('ck_orders_status', type_='check')
        batch_op.create_check_constraint('ck_orders_status', OLD_STATUS)
        batch_op.drop_index('ix_orders_payment_intent_id')
        batch_op.drop_column('payment_intent_id')
        batch_op.drop_column('checkout_expires_at')
        batch_op.drop_column('checkout_session_id')
        batch_op.drop_column('dispute_status')
        batch_op.drop_column('refunded_cents')

    with op.batch_alter_table('payment_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_events_order_id'))
    op.drop_table('payment_events')
