"""each user may choose the dashboard's language and the time zone times are shown in

Revision ID: d7e3b1a9c5f2
Revises: d7a3f1c9e248
Create Date: 2026-12-04 23:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "d7e3b1a9c5f2"
down_revision = "d7a3f1c9e248"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("timezone")
        batch_op.drop_column("language")
