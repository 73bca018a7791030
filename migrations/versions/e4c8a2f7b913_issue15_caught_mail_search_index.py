"""caught mail's search is served by an index: SQLite's FTS5 with the trigram tokenizer (kept in
step with `caught_mail.search_text` by triggers), PostgreSQL's pg_trgm GIN index

Both answer "contains" (LIKE '%word%') for words of three characters or more without reading
every row. When pg_trgm cannot be created (not installed, or no right to create it) the index
is left out and the search reads every row, as before (docs/benchmarks.md).

SQLite's triggers belong to `caught_mail`: a later migration that rebuilds that table (a batch
alter on SQLite copies it) must create them again.

Revision ID: e4c8a2f7b913
Revises: d7e3b1a9c5f2
Create Date: 2026-12-05 21:45:00.000000

"""

import logging

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e4c8a2f7b913"
down_revision = "d7e3b1a9c5f2"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

SQLITE_UP = [
    # A table of its own (not external content): the search reads only this narrow copy, never
    # the wide caught_mail rows whose `raw` spills over many pages.
    "CREATE VIRTUAL TABLE caught_mail_fts USING fts5(search_text, tokenize = 'trigram')",
    "INSERT INTO caught_mail_fts (rowid, search_text) SELECT id, search_text FROM caught_mail",
    """CREATE TRIGGER caught_mail_fts_insert AFTER INSERT ON caught_mail BEGIN
         INSERT INTO caught_mail_fts (rowid, search_text) VALUES (new.id, new.search_text);
       END""",
    """CREATE TRIGGER caught_mail_fts_delete AFTER DELETE ON caught_mail BEGIN
         DELETE FROM caught_mail_fts WHERE rowid = old.id;
       END""",
    """CREATE TRIGGER caught_mail_fts_update AFTER UPDATE OF search_text ON caught_mail BEGIN
         UPDATE caught_mail_fts SET search_text = new.search_text WHERE rowid = new.id;
       END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS caught_mail_fts_update",
    "DROP TRIGGER IF EXISTS caught_mail_fts_delete",
    "DROP TRIGGER IF EXISTS caught_mail_fts_insert",
    "DROP TABLE IF EXISTS caught_mail_fts",
]
PG_INDEX = "ix_caught_mail_search_trgm"


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as error:
        log.warning(
            "pg_trgm is not available (%s); Caught mail's search will read every row",
            str(error.orig).strip().splitlines()[0],
        )
        return
    op.execute(
        f"CREATE INDEX {PG_INDEX} ON caught_mail USING gin (search_text gin_trgm_ops)"
    )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
        return
    # The extension stays: other objects may have come to use it.
    op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
