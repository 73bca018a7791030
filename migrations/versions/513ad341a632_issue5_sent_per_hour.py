"""messages sent per hour and messages sent more than once, kept beside the rows for the statistics

Revision ID: 513ad341a632
Revises: 5ed6094f9e49
Create Date: 2026-11-25 09:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '513ad341a632'
down_revision = '5ed6094f9e49'
branch_labels = None
depends_on = None

# The hour of each sent_at: SQLite keeps datetimes as text ('2026-11-25 09:41:57.123456'),
# so the hour is a prefix of it completed the way SQLAlchemy writes datetimes.
HOUR = {
    'sqlite': "substr(sent_at, 1, 13) || ':00:00.000000'",
    'postgresql': "date_trunc('hour', sent_at)",
}


def upgrade():
    op.create_table('sent_hour',
    sa.Column('hour', sa.DateTime(), nullable=False),
    sa.Column('sent', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('hour', name=op.f('pk_sent_hour'))
    )
    op.create_table('duplicate_send',
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_duplicate_send_message_id_message'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_duplicate_send'))
    )
    # The messages already sent, counted once; from here on the outcome handler keeps both.
    hour = HOUR[op.get_bind().dialect.name]
    op.execute(
        f"INSERT INTO sent_hour (hour, sent) SELECT {hour}, count(*) FROM message "
        f"WHERE sent_at IS NOT NULL GROUP BY {hour}"
    )
    op.execute(
        "INSERT INTO duplicate_send (message_id) SELECT message_id FROM delivery_attempt "
        "WHERE outcome = 'sent' GROUP BY message_id HAVING count(*) > 1"
    )


def downgrade():
    op.drop_table('duplicate_send')
    op.drop_table('sent_hour')
