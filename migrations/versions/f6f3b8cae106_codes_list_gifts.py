"""buyers come back: download codes, the "next pack" list and its announcements, gifts

Revision ID: f6f3b8cae106
Revises: f5e2a7b9db05
Create Date: 2026-12-06 08:40:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f6f3b8cae106'
down_revision = 'f5e2a7b9db05'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('album_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_orders_album_id_albums', 'albums', ['album_id'], ['id'])

    op.create_table('code_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pack_id', sa.Integer(), nullable=False),
    sa.Column('album_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('size > 0', name='ck_code_batches_size'),
    sa.ForeignKeyConstraint(['pack_id'], ['packs.id']),
    sa.ForeignKeyConstraint(['album_id'], ['albums.id']),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('code_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_code_batches_pack_id'), ['pack_id'], unique=False)

    op.create_table('download_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('code_enc', sa.Text(), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('(redeemed_at IS NULL) = (order_id IS NULL)', name='ck_download_codes_redeemed'),
    sa.ForeignKeyConstraint(['batch_id'], ['code_batches.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code_hash'),
    sa.UniqueConstraint('order_id')
    )
    with op.batch_alter_table('download_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_download_codes_batch_id'), ['batch_id'], unique=False)

    op.create_table('subscribers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('wording', sa.String(length=32), nullable=False),
    sa.Column('request_ip', sa.String(length=64), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unsubscribed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unsubscribe_method', sa.String(length=32), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'confirmed', 'unsubscribed')", name='ck_subscribers_status'),
    sa.CheckConstraint('email = lower(email)', name='ck_subscribers_email_lower'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    op.create_table('announcements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pack_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=64), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['pack_id'], ['packs.id']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pack_id')
    )
    op.create_table('announcement_sends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('announcement_id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'skipped')", name='ck_announcement_sends_status'),
    sa.ForeignKeyConstraint(['announcement_id'], ['announcements.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('announcement_id', 'subscriber_id', name='uq_announcement_sends_once')
    )
    with op.batch_alter_table('announcement_sends', schema=None) as batch_op:
        batch_op.create_index('ix_announcement_sends_todo', ['announcement_id', 'status', 'subscriber_id'],
                              unique=False)

    op.create_table('gifts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('recipient_email', sa.String(length=254), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('deliver_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sending_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sends', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.CheckConstraint('length(message) <= 500', name='ck_gifts_message_length'),
    sa.CheckConstraint('recipient_email = lower(recipient_email)', name='ck_gifts_recipient_lower'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('order_id')
    )
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.create_index('ix_gifts_due', ['sent_at', 'deliver_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_gifts_recipient_email'), ['recipient_email'], unique=False)


def downgrade():
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gifts_recipient_email'))
        batch_op.drop_index('ix_gifts_due')
    op.drop_table('gifts')
    with op.batch_alter_table('announcement_sends', schema=None) as batch_op:
        batch_op.drop_index('ix_announcement_sends_todo')
    op.drop_table('announcement_sends')
    op.drop_table('announcements')
    op.drop_table('subscribers')
    with op.batch_alter_table('download_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_download_codes_batch_id'))
    op.drop_table('download_codes')
    with op.batch_alter_table('code_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_code_batches_pack_id'))
    op.drop_table('code_batches')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint('fk_orders_album_id_albums', type_='foreignkey')
        batch_op.drop_column('album_id')
