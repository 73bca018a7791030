"""indexes for the history and statistics pages

Revision ID: 7c3e5a91d2f4
Revises: 7a1c2e9d4b10
Create Date: 2026-11-25 08:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c3e5a91d2f4'
down_revision = '7a1c2e9d4b10'
branch_labels = None
depends_on = None

MESSAGE_INDEXES = [
    ('ix_message_status_id', ['status', 'id']),
    ('ix_message_to_address_lower', [sa.text('lower(to_address)')]),
    ('ix_message_updated_at', ['updated_at']),
    ('ix_message_status_updated_at', ['status', 'updated_at']),
    ('ix_message_sent_at', ['sent_at']),
    ('ix_message_campaign_sent_at', ['campaign_id', 'sent_at']),
]
# Partial: only the few retried or failed rows, with the columns their counts read.
PARTIAL_INDEXES = [
    (
        'ix_message_retried_updated_at',
        ['updated_at', 'status', 'attempts', 'id'],
        'attempts > 1',
    ),
    (
        'ix_message_failed_updated_at',
        ['updated_at', 'status', 'last_code', 'to_address'],
        "status = 'failed'",
    ),
]


def upgrade():
    for name, columns in MESSAGE_INDEXES:
        op.create_index(name, 'message', columns, unique=False)
    for name, columns, where in PARTIAL_INDEXES:
        op.create_index(
            name, 'message', columns, unique=False,
            sqlite_where=sa.text(where), postgresql_where=sa.text(where),
        )
    op.create_index(
        'ix_delivery_attempt_message_outcome', 'delivery_attempt', ['message_id', 'outcome'],
        unique=False,
    )
    op.create_index('ix_campaign_created_at', 'campaign', ['created_at'], unique=False)


def downgrade():
    op.drop_index('ix_campaign_created_at', table_name='campaign')
    op.drop_index('ix_delivery_attempt_message_outcome', table_name='delivery_attempt')
    for name, _, _ in reversed(PARTIAL_INDEXES):
        op.drop_index(name, table_name='message')
    for name, _ in reversed(MESSAGE_INDEXES):
        op.drop_index(name, table_name='message')
