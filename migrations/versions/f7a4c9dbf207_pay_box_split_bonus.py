"""The pay box: a pack's default split, minimums, charity, preset amounts; the bonus album;
the split and bonus each order was bought with

Revision ID: f7a4c9dbf207
Revises: f6f3b8cae106
Create Date: 2026-12-06 08:40:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f7a4c9dbf207'
down_revision = 'f6f3b8cae106'
branch_labels = None
depends_on = None

PACK_SPLIT = ("split_artists >= 0 AND split_charity >= 0 AND split_store >= 0 "
              "AND split_artists + split_charity + split_store = 100")
ORDER_SPLIT = f"split_artists IS NULL OR ({PACK_SPLIT})"


def upgrade():
    with op.batch_alter_table('packs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('split_artists', sa.Integer(), server_default='90', nullable=False))
        batch_op.add_column(sa.Column('split_charity', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('split_store', sa.Integer(), server_default='10', nullable=False))
        batch_op.add_column(sa.Column('store_min_percent', sa.Integer(), server_default='5', nullable=False))
        batch_op.add_column(sa.Column('charity_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('charity_min_percent', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('preset_amounts', sa.String(length=200), server_default='', nullable=False))
        batch_op.create_check_constraint('ck_packs_split', PACK_SPLIT)
        batch_op.create_check_constraint(
            'ck_packs_split_minimums',
            'store_min_percent BETWEEN 0 AND 100 AND charity_min_percent BETWEEN 0 AND 100')
        batch_op.create_check_constraint(
            'ck_packs_charity', 'charity_name IS NOT NULL OR (split_charity = 0 AND charity_min_percent = 0)')

    with op.batch_alter_table('albums', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_bonus', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('uq_albums_one_bonus', ['pack_id'], unique=True,
                              sqlite_where=sa.text('is_bonus'), postgresql_where=sa.text('is_bonus'))

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('split_artists', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('split_charity', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('split_store', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('artist_split', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('bonus_threshold_cents', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('bonus_unlocked', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_check_constraint('ck_orders_split', ORDER_SPLIT)


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint('ck_orders_split', type_='check')
        for column in ('bonus_unlocked', 'bonus_threshold_cents', 'artist_split', 'split_store', 'split_charity',
                       'split_artists'):
            batch_op.drop_column(column)
    with op.batch_alter_table('albums', schema=None) as batch_op:
        batch_op.drop_index('uq_albums_one_bonus')
        batch_op.drop_column('is_bonus')
    with op.batch_alter_table('packs', schema=None) as batch_op:
        for name in ('ck_packs_charity', 'ck_packs_split_minimums', 'ck_packs_split'):
            batch_op.drop_constraint(name, type_='check')
        for column in ('preset_amounts', 'charity_min_percent', 'charity_name', 'store_min_percent', 'split_store',
                       'split_charity', 'split_artists'):
            batch_op.drop_column(column)
