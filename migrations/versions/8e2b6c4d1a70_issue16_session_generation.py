"""users' session generation: sessions that end (issue 16)

Revision ID: 8e2b6c4d1a70
Revises: 9b2e6f41c8d3
Create Date: 2026-12-02 09:00:00

Sessions signed in before this revision carry no generation and must sign in again.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8e2b6c4d1a70'
down_revision = "9b2e6f41c8d3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('session_generation')
