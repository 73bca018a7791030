"""users' roles: viewer, sender, admin (issue 16)

Revision ID: 9a4d2e7f3b81
Revises: 8e2b6c4d1a70
Create Date: 2026-12-02 09:30:00

Existing admins stay admins; every other existing user becomes a sender, which is what they
could do before (send and manage campaigns), so nobody is locked out and nobody gains the
users page.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9a4d2e7f3b81'
down_revision = '8e2b6c4d1a70'
branch_labels = None
depends_on = None

user = sa.table('user', sa.column('is_admin', sa.Boolean()), sa.column('role', sa.String(16)))


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('role', sa.String(length=16), server_default='sender', nullable=False)
        )
    op.execute(user.update().where(user.c.is_admin.is_(True)).values(role='admin'))
    # Not in batch mode: on SQLite a batch rebuilds the table, and dropping the old `user`
    # would cascade to every API token (foreign keys are on). SQLite >= 3.35 drops in place.
    op.drop_column('user', 'is_admin')


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('is_admin', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute(user.update().where(user.c.role == 'admin').values(is_admin=True))
    op.drop_column('user', 'role')
