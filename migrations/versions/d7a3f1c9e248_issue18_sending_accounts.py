"""sending accounts and pools; a campaign names the account or pool its mail goes through

Revision ID: d7a3f1c9e248
Revises: d7e3a1b5c920
Create Date: 2026-12-04 23:50:00.000000

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "d7a3f1c9e248"
down_revision = "d7e3a1b5c920"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sending_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("tls_mode", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=320), nullable=False),
        sa.Column("auth", sa.String(length=16), nullable=False),
        sa.Column("oauth_client_id", sa.String(length=255), nullable=False),
        sa.Column("oauth_token_url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("from_allowed", sa.Text(), nullable=False),
        sa.Column("per_second", sa.Float(), nullable=False),
        sa.Column("per_day", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sending_account")),
        sa.UniqueConstraint("name", name=op.f("uq_sending_account_name")),
    )
    op.create_table(
        "account_pool",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_pool")),
        sa.UniqueConstraint("name", name=op.f("uq_account_pool_name")),
    )
    op.create_table(
        "pool_member",
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["sending_account.id"],
            name=op.f("fk_pool_member_account_id_sending_account"),
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["account_pool.id"],
            name=op.f("fk_pool_member_pool_id_account_pool"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pool_id", "account_id", name=op.f("pk_pool_member")),
    )
    # Plain columns, no foreign key: a constraint would make SQLite copy the campaign table.
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("pool_id", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_column("pool_id")
        batch_op.drop_column("account_id")
    op.drop_table("pool_member")
    op.drop_table("account_pool")
    op.drop_table("sending_account")
