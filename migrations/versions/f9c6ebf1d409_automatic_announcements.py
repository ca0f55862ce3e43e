"""Announcements the worker started by itself when a pack's sale began

Revision ID: f9c6ebf1d409
Revises: f7a4c9dbf207
Create Date: 2026-12-06 09:50:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f9c6ebf1d409'
down_revision = 'f7a4c9dbf207'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('automatic', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.drop_column('automatic')
