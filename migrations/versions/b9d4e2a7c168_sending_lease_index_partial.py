"""the sweeper's lease index holds only `sending` rows

Its one reader, the sweeper, asks which `sending` rows' leases have run out; every other row's
entry was written for nothing, on every insert and again on each change of status (stored,
confirmed, claimed, sent: each rewrote the entry, since the status leads the key). Now a row
has an entry only while it is being sent: written by the claim, removed by the outcome.

Revision ID: b9d4e2a7c168
Revises: c4e8a2f6b193
Create Date: 2026-12-06 21:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b9d4e2a7c168"
down_revision = "c4e8a2f6b193"
branch_labels = None
depends_on = None

_SENDING = sa.text("message.status = 'sending'")


def upgrade():
    op.drop_index("ix_message_status_lease_expires_at", table_name="message")
    op.create_index(
        "ix_message_sending_lease_expires_at",
        "message",
        ["lease_expires_at"],
        sqlite_where=_SENDING,
        postgresql_where=_SENDING,
    )


def downgrade():
    op.drop_index("ix_message_sending_lease_expires_at", table_name="message")
    op.create_index("ix_message_status_lease_expires_at", "message", ["status", "lease_expires_at"])
