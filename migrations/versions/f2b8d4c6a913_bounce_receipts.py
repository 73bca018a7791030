"""bounce receipts: each report recorded once per message, so one read twice counts once

Revision ID: f2b8d4c6a913
Revises: e4c8a2f7b913
Create Date: 2026-12-06 01:30:00.000000

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "f2b8d4c6a913"
down_revision = "e4c8a2f7b913"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "bounce_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("report_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        # Two readers of the same report: the second one's insert fails, nothing is counted twice.
        sa.UniqueConstraint("message_id", "report_key", name="uq_bounce_receipt"),
    )


def downgrade():
    op.drop_table("bounce_receipt")
