"""campaigns' owner: who submitted them (issue 16)

Revision ID: b3e1f5a7c902
Revises: 9a4d2e7f3b81
Create Date: 2026-12-02 10:00:00

Existing campaigns get no owner: admins and viewers see them, senders do not.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b3e1f5a7c902'
down_revision = '9a4d2e7f3b81'
branch_labels = None
depends_on = None


def upgrade():
    # Not in batch mode: on SQLite a batch may rebuild `campaign`, and dropping the old table
    # would cascade to its messages (foreign keys are on). A nullable column is added in place.
    op.add_column('campaign', sa.Column('owner_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_campaign_owner_id'), 'campaign', ['owner_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_campaign_owner_id'), table_name='campaign')
    op.drop_column('campaign', 'owner_id')
