"""message.subject: a merge message's subject as it was rendered for sending, so History lists
and searches what the recipient got (NULL when it is the campaign's subject as typed)

Revision ID: d7e3a1b5c920
Revises: d7e3a1c5b926
Create Date: 2026-12-12 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd7e3a1b5c920'
down_revision = "d7e3a1c5b926"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_column('subject')
