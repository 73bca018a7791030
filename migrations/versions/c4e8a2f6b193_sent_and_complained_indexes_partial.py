"""the send-time and complaint indexes hold only sent and complained rows

A message row is written several times before it is sent (stored, confirmed, claimed), and on
PostgreSQL every such UPDATE wrote a new entry, with no send time, in the send-time indexes and
the complaint index too; on both databases every stored row had those entries. The queries that
read them all say the column is set.

Revision ID: c4e8a2f6b193
Revises: a6d1f3c8e527
Create Date: 2026-12-06 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c4e8a2f6b193"
down_revision = "a6d1f3c8e527"
branch_labels = None
depends_on = None

_SENT = sa.text("message.sent_at IS NOT NULL")
_COMPLAINED = sa.text("message.complained_at IS NOT NULL")
_INDEXES = (
    ("ix_message_sent_at", ["sent_at"], _SENT),
    ("ix_message_campaign_sent_at", ["campaign_id", "sent_at"], _SENT),
    ("ix_message_complained_at", ["complained_at"], _COMPLAINED),
)


def upgrade():
    for name, columns, where in _INDEXES:
        op.drop_index(name, table_name="message")
        op.create_index(name, "message", columns, sqlite_where=where, postgresql_where=where)


def downgrade():
    for name, columns, _ in _INDEXES:
        op.drop_index(name, table_name="message")
        op.create_index(name, "message", columns)
