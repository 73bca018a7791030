"""a batch holds its rows by a lease: the claim's token and when its lease runs out

Revision ID: d7e3a1c5b926
Revises: e7b3c9d2a415
Create Date: 2026-12-04 23:50:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd7e3a1c5b926'
down_revision = "e7b3c9d2a415"
branch_labels = None
depends_on = None


def upgrade():
    # Not in batch mode: adding nullable columns needs no table rebuild on SQLite, and a rebuild
    # would lose the expression index on the recipient's address.
    op.add_column('message', sa.Column('lease_token', sa.String(length=32), nullable=True))
    op.add_column('message', sa.Column('lease_expires_at', sa.DateTime(), nullable=True))
    # The sweeper's question: which `sending` rows' leases have run out.
    op.create_index(
        'ix_message_status_lease_expires_at', 'message', ['status', 'lease_expires_at']
    )


def downgrade():
    op.drop_index('ix_message_status_lease_expires_at', table_name='message')
    with op.batch_alter_table('message') as batch_op:
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('lease_token')
