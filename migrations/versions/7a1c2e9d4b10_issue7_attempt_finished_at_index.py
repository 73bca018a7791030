"""index delivery_attempt.finished_at, for the metrics of recent attempts

Revision ID: 7a1c2e9d4b10
Revises: 7c4e1a9d2b60
Create Date: 2026-11-25 08:50:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '7a1c2e9d4b10'
down_revision = '7c4e1a9d2b60'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_attempt_finished_at'), ['finished_at'], unique=False)


def downgrade():
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_attempt_finished_at'))
