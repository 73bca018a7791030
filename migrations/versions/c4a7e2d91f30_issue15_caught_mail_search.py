"""caught mail keeps its decoded From and To and a lower-cased search text; existing rows backfilled

Revision ID: c4a7e2d91f30
Revises: c5f2a8d4e613
Create Date: 2026-12-04 22:00:00.000000

"""
import json
from email import policy
from email.parser import BytesHeaderParser

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4a7e2d91f30'
down_revision = "c5f2a8d4e613"
branch_labels = None
depends_on = None

BATCH = 500


def _header(headers, name):
    try:
        return str(headers.get(name, "") or "").replace("\0", "")
    except (ValueError, TypeError, IndexError):
        return str(headers.get_all(name, [""])[0]).replace("\0", "")


def upgrade():
    with op.batch_alter_table('caught_mail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('from_header', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('to_header', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('search_text', sa.Text(), server_default='', nullable=False))

    # The same fields the catcher now stores (ops/caught_mail.py: caught_fields), written here
    # so that this migration means the same thing whatever the code becomes.
    bind = op.get_bind()
    caught = sa.table(
        'caught_mail',
        sa.column('id', sa.Integer), sa.column('mail_from', sa.String), sa.column('rcpt_tos', sa.Text),
        sa.column('raw', sa.LargeBinary), sa.column('from_header', sa.Text),
        sa.column('to_header', sa.Text), sa.column('search_text', sa.Text),
        sa.column('subject', sa.Text),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(caught.c.id, caught.c.mail_from, caught.c.rcpt_tos, caught.c.raw, caught.c.subject)
            .where(caught.c.id > last).order_by(caught.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            headers = BytesHeaderParser(policy=policy.default).parsebytes(row.raw or b"")
            from_h, to_h = (_header(headers, n) for n in ("From", "To"))
            subject = row.subject or ""  # as the catcher stored it then
            try:
                recipients = [str(r) for r in json.loads(row.rcpt_tos or "[]")]
            except ValueError:
                recipients = []
            searched = "\n".join([subject, from_h, to_h, row.mail_from or "", *recipients])
            bind.execute(
                caught.update().where(caught.c.id == row.id).values(
                    from_header=from_h, to_header=to_h,
                    search_text=searched.replace("\0", "").lower(),
                )
            )
        last = rows[-1].id


def downgrade():
    with op.batch_alter_table('caught_mail', schema=None) as batch_op:
        batch_op.drop_column('search_text')
        batch_op.drop_column('to_header')
        batch_op.drop_column('from_header')
