"""drop message.status's own index: ix_message_status_id starts with status and serves every
query it served, and each index is paid for on every insert of a million-row import

Revision ID: 3f1d8c27a9b5
Revises: 513ad341a632
Create Date: 2026-11-25 11:45:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '3f1d8c27a9b5'
down_revision = '513ad341a632'
branch_labels = None
depends_on = None


def upgrade():
    # Not in batch mode: on SQLite a batch may rebuild the table and lose its expression index.
    op.drop_index('ix_message_status', table_name='message')


def downgrade():
    op.create_index('ix_message_status', 'message', ['status'], unique=False)
