"""leaner sending indexes: the dispatcher's index holds only rows with a due time, the
attempts' message_id index (a prefix of message_id + outcome) is gone, and a campaign's soft
bounces and complaints are read from indexes of only those rows

Every claim and every outcome of a campaign's message changed the dispatcher's index though such
rows have no due time, every attempt was written to two indexes that start with its message, and
every poll of a campaign's page read all its rows to count its few bounces.

Revision ID: a6d1f3c8e527
Revises: f2b8d4c6a913
Create Date: 2026-12-06 05:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a6d1f3c8e527"
down_revision = "f2b8d4c6a913"
branch_labels = None
depends_on = None

_DUE = sa.text("next_attempt_at IS NOT NULL")
_SOFT_BOUNCED = sa.text("message.soft_bounces > 0")
_COMPLAINED = sa.text("message.complained_at IS NOT NULL")


def upgrade():
    op.drop_index("ix_message_status_next_attempt", table_name="message")
    op.create_index(
        "ix_message_status_next_attempt",
        "message",
        ["status", "next_attempt_at"],
        sqlite_where=_DUE,
        postgresql_where=_DUE,
    )
    op.drop_index("ix_delivery_attempt_message_id", table_name="delivery_attempt")
    op.create_index(
        "ix_message_soft_bounced",
        "message",
        ["campaign_id", "soft_bounces"],
        sqlite_where=_SOFT_BOUNCED,
        postgresql_where=_SOFT_BOUNCED,
    )
    op.create_index(
        "ix_message_complained",
        "message",
        ["campaign_id"],
        sqlite_where=_COMPLAINED,
        postgresql_where=_COMPLAINED,
    )


def downgrade():
    op.drop_index("ix_message_complained", table_name="message")
    op.drop_index("ix_message_soft_bounced", table_name="message")
    op.create_index("ix_delivery_attempt_message_id", "delivery_attempt", ["message_id"])
    op.drop_index("ix_message_status_next_attempt", table_name="message")
    op.create_index("ix_message_status_next_attempt", "message", ["status", "next_attempt_at"])
