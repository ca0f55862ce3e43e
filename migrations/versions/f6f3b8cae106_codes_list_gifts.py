"""buyers come back: download codes

Revision ID: f6f3b8cae106
Revises: e4b8d2f61a93
Create Date: 2026-12-06 08:40:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f6f3b8cae106'
down_revision = 'e4b8d2f61a93'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('code_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pack_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('size > 0', name='ck_code_batches_size'),
    sa.ForeignKeyConstraint(['pack_id'], ['packs.id']),
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


def downgrade():
    with op.batch_alter_table('download_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_download_codes_batch_id'))
    op.drop_table('download_codes')
    with op.batch_alter_table('code_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_code_batches_pack_id'))
    op.drop_table('code_batches')
