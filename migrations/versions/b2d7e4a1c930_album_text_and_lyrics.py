"""Album descriptions and credits, track lyrics (the operator's Markdown for the pack page)

Revision ID: b2d7e4a1c930
Revises: fa1b2c3d4e50
Create Date: 2026-12-06 11:50:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b2d7e4a1c930'
down_revision = 'fa1b2c3d4e50'
branch_labels = None
depends_on = None


def upgrade():
    # Every existing row gets the empty text (the server default): nothing to back-fill.
    with op.batch_alter_table('albums', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('credits', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('text_updated_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lyrics', sa.Text(), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.drop_column('lyrics')
    with op.batch_alter_table('albums', schema=None) as batch_op:
        batch_op.drop_column('text_updated_at')
        batch_op.drop_column('credits')
        batch_op.drop_column('description')
