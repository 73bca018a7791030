"""bounces read back: a message's soft-bounce count and complaint time, and the message that
put an address on the suppression list

Revision ID: e7b3c9d2a415
Revises: 92cc74bedd37
Create Date: 2026-12-04 23:50:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e7b3c9d2a415'
down_revision = "92cc74bedd37"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('soft_bounces', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.add_column(sa.Column('complained_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_message_message_id_header', ['message_id_header'])
        batch_op.create_index('ix_message_complained_at', ['complained_at'])
    with op.batch_alter_table('suppression', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('suppression', schema=None) as batch_op:
        batch_op.drop_column('message_id')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_complained_at')
        batch_op.drop_index('ix_message_message_id_header')
        batch_op.drop_column('complained_at')
        batch_op.drop_column('soft_bounces')
