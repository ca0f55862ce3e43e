"""masters and encodes: tracks keep their lossless master and preview, an encodes table,
eight buyer formats (``mp3`` becomes ``mp3-v0`` wherever a format is stored)

Revision ID: e3b5a9c4d217
Revises: a7d3c9e1f204
Create Date: 2026-11-30 01:40:00

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'e3b5a9c4d217'
down_revision = 'a7d3c9e1f204'
branch_labels = None
depends_on = None

# Frozen here: the migration must not change when shop/formats.py grows a format.
OLD_FORMATS = ('mp3', 'flac', 'wav')
NEW_FORMATS = ('mp3-v0', 'mp3-320', 'aac', 'opus', 'flac', 'alac', 'wav', 'aiff')
ENCODE_STATUSES = ('pending', 'running', 'done', 'failed')
# Every table that stores a buyer format, and the name of its check constraint.
FORMAT_TABLES = (
    ('track_files', 'ck_track_files_format'),
    ('album_folder_refs', 'ck_album_folder_refs_format'),
    ('deliveries', 'ck_deliveries_format'),
    ('download_counts', 'ck_download_counts_format'),
)


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _change_formats(allowed, renames, drop_others):
    """Per table: drop the check, rename format values (and drop rows of formats the other
    side does not know, on downgrade), put the new check back. SQLite cannot alter a
    constraint: batch mode copies the table (indexes included)."""
    for table, check in FORMAT_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(check, type_='check')
        if drop_others:
            known = tuple(allowed) + tuple(renames)
            if table == 'track_files':
                op.execute(f"DELETE FROM delivery_files WHERE track_file_id IN "
                           f"(SELECT id FROM track_files WHERE NOT ({_in('format', known)}))")
            op.execute(f"DELETE FROM {table} WHERE NOT ({_in('format', known)})")
        for old, new in renames.items():
            op.execute(f"UPDATE {table} SET format = '{new}' WHERE format = '{old}'")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(check, _in('format', allowed))


# On SQLite, migrations/env.py turns foreign keys off while tables are rebuilt (a copied
# table's DROP would otherwise cascade into delivery_files, track_files and encodes).


def upgrade():
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('master_key', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('master_size', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('master_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('master_codec', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('sample_rate', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('bit_depth', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('channels', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('preview_key', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('preview_size', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('preview_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('preview_duration_ms', sa.Integer(), nullable=True))

    op.create_table('encodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(_in('format', NEW_FORMATS + ('preview',)), name='ck_encodes_format'),
    sa.CheckConstraint(_in('status', ENCODE_STATUSES), name='ck_encodes_status'),
    sa.CheckConstraint('attempts >= 0', name='ck_encodes_attempts'),
    sa.ForeignKeyConstraint(['track_id'], ['tracks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('track_id', 'format', name='uq_encodes_track_format')
    )
    with op.batch_alter_table('encodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_encodes_track_id'), ['track_id'], unique=False)

    _change_formats(NEW_FORMATS, {'mp3': 'mp3-v0'}, drop_others=False)


def downgrade():
    # Files in the formats added here (and their counts, deliveries, folder references)
    # cannot be represented in the old schema and are removed.
    _change_formats(OLD_FORMATS, {'mp3-v0': 'mp3'}, drop_others=True)

    with op.batch_alter_table('encodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_encodes_track_id'))
    op.drop_table('encodes')

    with op.batch_alter_table('tracks', schema=None) as batch_op:
        for column in ('preview_duration_ms', 'preview_sha256', 'preview_size', 'preview_key', 'channels',
                       'bit_depth', 'sample_rate', 'master_codec', 'master_sha256', 'master_size', 'master_key'):
            batch_op.drop_column(column)
