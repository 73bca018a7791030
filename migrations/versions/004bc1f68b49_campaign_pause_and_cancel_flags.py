"""campaign pause and cancel flags

Revision ID: 004bc1f68b49
Revises: 2513ebfae28c
Create Date: 2026-11-25 08:29:09.210950

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '004bc1f68b49'
down_revision = '2513ebfae28c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('pause_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('cancelled_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('cancelled_at')
        batch_op.drop_column('pause_reason')
        batch_op.drop_column('paused_at')
