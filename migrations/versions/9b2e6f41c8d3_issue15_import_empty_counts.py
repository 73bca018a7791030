"""csv_import.empty_counts_json: how many imported rows have each column empty, counted while
importing, so the preview can warn of a merge field that merges nothing

Revision ID: 9b2e6f41c8d3
Revises: c1b1641fa0f0
Create Date: 2026-12-10 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '9b2e6f41c8d3'
down_revision = "c1b1641fa0f0"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('csv_import', schema=None) as batch_op:
        batch_op.add_column(sa.Column('empty_counts_json', sa.Text(), server_default='{}', nullable=False))


def downgrade():
    with op.batch_alter_table('csv_import', schema=None) as batch_op:
        batch_op.drop_column('empty_counts_json')
