"""operators.session_version: a number in every console session, raised to end them all

Revision ID: f4d1f6a8ca04
Revises: e4b8d2f61a93
Create Date: 2026-12-06 08:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f4d1f6a8ca04'
down_revision = 'e4b8d2f61a93'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('operators', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('operators', schema=None) as batch_op:
        batch_op.drop_column('session_version')
