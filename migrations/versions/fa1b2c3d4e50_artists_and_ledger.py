"""Artists as records (albums keep their tagged name and gain the artist they pay), statement
links and mails, the append-only ledger and payouts

Revision ID: fa1b2c3d4e50
Revises: f9c6ebf1d409
Create Date: 2026-12-06 12:10:00

"""
import unicodedata

import sqlalchemy as sa
from alembic import op

import shop.columns

# revision identifiers, used by Alembic.
revision = 'fa1b2c3d4e50'
down_revision = 'f9c6ebf1d409'
branch_labels = None
depends_on = None


def _name_key(name):
    bare = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def upgrade():
    op.create_table(
        'artists',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('name_key', sa.String(length=200), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('bio', sa.Text(), server_default='', nullable=False),
        sa.Column('links_text', sa.Text(), server_default='', nullable=False),
        sa.Column('payout_method', sa.String(length=16), server_default='manual', nullable=False),
        sa.Column('stripe_account_id', sa.String(length=64), nullable=True),
        sa.Column('payouts_enabled', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('same_as_id', sa.Integer(), nullable=True),
        sa.Column('created_at', shop.columns.UTCDateTime(), nullable=False),
        sa.CheckConstraint("payout_method IN ('manual', 'stripe')", name='ck_artists_payout_method'),
        sa.CheckConstraint('same_as_id IS NULL OR same_as_id != id', name='ck_artists_same_as'),
        sa.ForeignKeyConstraint(['same_as_id'], ['artists.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name', name='uq_artists_name'),
        sa.UniqueConstraint('stripe_account_id'),
    )
    op.create_index('ix_artists_name_key', 'artists', ['name_key'], unique=False)

    # Today's album artists become artist rows, one per exact name; spellings that fold to one
    # key are kept apart and linked for the operator to confirm (never merged here).
    connection = op.get_bind()
    artists = sa.table('artists', sa.column('id', sa.Integer), sa.column('name', sa.String),
                       sa.column('name_key', sa.String), sa.column('same_as_id', sa.Integer),
                       sa.column('created_at', shop.columns.UTCDateTime()))
    names = [row[0] for row in connection.execute(sa.text("SELECT DISTINCT artist FROM albums ORDER BY artist"))]
    first_of_key = {}
    now = sa.func.current_timestamp()
    for name in names:
        key = _name_key(name)
        connection.execute(artists.insert().values(name=name, name_key=key, same_as_id=first_of_key.get(key),
                                                   created_at=now))
        if key not in first_of_key:
            first_of_key[key] = connection.execute(
                sa.select(artists.c.id).where(artists.c.name == name)).scalar_one()

    with op.batch_alter_table('albums', schema=None) as batch_op:
        batch_op.add_column(sa.Column('artist_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('share_weight', sa.Integer(), server_default='1', nullable=False))
    connection.execute(sa.text(
        "UPDATE albums SET artist_id = (SELECT artists.id FROM artists WHERE artists.name = albums.artist)"))
    with op.batch_alter_table('albums', schema=None) as batch_op:
        batch_op.alter_column('artist_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_albums_artist_id'), ['artist_id'], unique=False)
        batch_op.create_foreign_key('fk_albums_artist_id_artists', 'artists', ['artist_id'], ['id'])
        batch_op.create_check_constraint('ck_albums_share_weight', 'share_weight >= 0')

    op.create_table(
        'statement_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('artist_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', shop.columns.UTCDateTime(), nullable=False),
        sa.Column('revoked_at', shop.columns.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index(op.f('ix_statement_links_artist_id'), 'statement_links', ['artist_id'], unique=False)
    op.create_table(
        'statement_mails',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('artist_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('created_at', shop.columns.UTCDateTime(), nullable=False),
        sa.Column('sent_at', shop.columns.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('artist_id', 'month', name='uq_statement_mails_artist_month'),
    )
    op.create_table(
        'ledger_postings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=160), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('amount_cents', sa.Integer(), nullable=False),
        sa.Column('at', shop.columns.UTCDateTime(), nullable=False),
        sa.Column('created_at', shop.columns.UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('sale', 'refund', 'dispute_withdrawn', 'dispute_reinstated', 'payout', "
                           "'payout_reversal')", name='ck_ledger_postings_kind'),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index('ix_ledger_postings_at', 'ledger_postings', ['at'], unique=False)
    op.create_index(op.f('ix_ledger_postings_order_id'), 'ledger_postings', ['order_id'], unique=False)
    op.create_table(
        'ledger_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('posting_id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=True),
        sa.Column('party', sa.String(length=16), nullable=False),
        sa.Column('artist_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('amount_cents', sa.Integer(), nullable=False),
        sa.Column('at', shop.columns.UTCDateTime(), nullable=False),
        sa.CheckConstraint("party IN ('artist', 'charity', 'store', 'stripe', 'tax')", name='ck_ledger_entries_party'),
        sa.CheckConstraint("kind IN ('share', 'fee', 'tax', 'refund', 'dispute', 'dispute_reinstated', "
                           "'dispute_fee', 'payout', 'payout_reversal')", name='ck_ledger_entries_kind'),
        sa.CheckConstraint("(party = 'artist') = (artist_id IS NOT NULL)", name='ck_ledger_entries_artist'),
        sa.ForeignKeyConstraint(['artist_id'], ['artists.id']),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id']),
        sa.ForeignKeyConstraint(['posting_id'], ['ledger_postings.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_ledger_entries_artist', 'ledger_entries', ['artist_id', 'currency'], unique=False)
    op.create_index(op.f('ix_ledger_entries_order_id'), 'ledger_entries', ['order_id'], unique=False)
    op.create_index(op.f('ix_ledger_entries_posting_id'), 'ledger_entries', ['posting_id'], unique=False)
    op.create_table(
        'payouts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('artist_id', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('amount_cents', sa.Integer(), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('run_key', sa.String(length=64), nullable=True),
        sa.Column('idempotency_key', sa.String(length=120), nullable=True),
        sa.Column('reference', sa.String(length=200), nullable=True),
        sa.Column('note', sa.String(length=500), server_default='', nullable=False),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('operator_id', sa.Integer(), nullable=True),
        sa.Column('created_at', shop.columns.UTCDateTime(), nullable=False),
        sa.Column('sent_at', shop.columns.UTCDateTime(), nullable=True),
        sa.CheckConstraint('amount_cents > 0', name='ck_payouts_amount'),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name='ck_payouts_status'),
        sa.CheckConstraint("method IN ('stripe', 'manual')", name='ck_payouts_method'),
        sa.ForeignKeyConstraint(['artist_id'], ['artists.id']),
        sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('idempotency_key'),
    )
    op.create_index(op.f('ix_payouts_artist_id'), 'payouts', ['artist_id'], unique=False)
    op.create_index(op.f('ix_payouts_run_key'), 'payouts', ['run_key'], unique=False)


def downgrade():
    op.drop_table('payouts')
    op.drop_table('ledger_entries')
    op.drop_table('ledger_postings')
    op.drop_table('statement_mails')
    op.drop_table('statement_links')
    with op.batch_alter_table('albums', schema=None) as batch_op:
        batch_op.drop_constraint('ck_albums_share_weight', type_='check')
        batch_op.drop_constraint('fk_albums_artist_id_artists', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_albums_artist_id'))
        batch_op.drop_column('share_weight')
        batch_op.drop_column('artist_id')
    op.drop_index('ix_artists_name_key', table_name='artists')
    op.drop_table('artists')
