"""scheduling (campaign.send_at), resumed_at for the failure guard, stale resends and the due-time index

Revision ID: 7c4e1a9d2b60
Revises: 04793659e78e
Create Date: 2026-11-25 08:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c4e1a9d2b60'
down_revision = '04793659e78e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('resumed_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('stale_resends', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.create_index(
            'ix_message_status_next_attempt', ['status', 'next_attempt_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_status_next_attempt')
        batch_op.drop_column('stale_resends')

    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('resumed_at')
        batch_op.drop_column('send_at')
