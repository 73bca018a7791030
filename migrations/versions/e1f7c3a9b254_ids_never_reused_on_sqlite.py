"""on SQLite, an id once given is never given again (AUTOINCREMENT)

SQLite gives a new row the largest id plus one, so deleting the newest row (a draft, a webhook,
a sending account) handed its id to the next one: the Audit page named two campaigns by one id,
and a program that kept the old id read another row. PostgreSQL's sequences never reuse an id.
AUTOINCREMENT can only be declared when a table is created, so each table is rebuilt as SQLite
describes it (a new table, the rows copied, the old one dropped, the new one renamed, its
indexes and triggers made again from their own SQL, partial and expression indexes included),
with foreign keys off so that dropping the old table does not cascade to its children, and
checked before it is committed. Nothing changes on PostgreSQL.

Revision ID: e1f7c3a9b254
Revises: b9d4e2a7c168
Create Date: 2026-12-07 22:40:00.000000

"""

import re
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import op
from sqlalchemy import Connection

# revision identifiers, used by Alembic.
revision = "e1f7c3a9b254"
down_revision = "b9d4e2a7c168"
branch_labels = None
depends_on = None

#: The tables whose ids people and programs keep (pages, API answers, webhook events) and whose
#: rows can be deleted.
TABLES = (
    "campaign",
    "message",
    "csv_import",
    "suppression",
    "sending_account",
    "account_pool",
    "webhook_endpoint",
    "webhook_delivery",
    "caught_mail",  # its search's triggers are made again with it
)


def upgrade():
    _rebuild_all(autoincrement=True)


def downgrade():
    _rebuild_all(autoincrement=False)


def _rebuild_all(*, autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    with _foreign_keys_off(bind):
        for table in TABLES:
            _rebuild(bind, table, autoincrement=autoincrement)


@contextmanager
def _foreign_keys_off(bind: Connection) -> Iterator[None]:
    """One transaction with foreign keys off (SQLite ignores the pragma inside a transaction,
    so it is set before BEGIN and checked), the keys checked before the commit."""
    driver = bind.connection.dbapi_connection
    driver.commit()  # what an earlier revision of this run wrote, so the pragma takes effect
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("SQLite kept foreign keys on: no table was rebuilt")
    try:
        bind.exec_driver_sql("BEGIN")
        yield
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"rows left without their parent row, nothing changed: {broken}")
        driver.commit()
    except BaseException:
        driver.rollback()
        raise
    finally:
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")


def _rebuild(bind: Connection, table: str, *, autoincrement: bool) -> None:
    create = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    # Indexes and triggers as they were written (reflection would lose the partial and
    # expression ones); the automatic indexes of UNIQUE constraints have no SQL and come back
    # with the table.
    dependents = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
        "AND sql IS NOT NULL ORDER BY type, name",
        (table,),
    ).scalars().all()
    rebuilt = f"{table}__rebuilt"
    bind.exec_driver_sql(_renamed(_declared(create, table, autoincrement), table, rebuilt))
    bind.exec_driver_sql(f'INSERT INTO "{rebuilt}" SELECT * FROM "{table}"')
    bind.exec_driver_sql(f'DROP TABLE "{table}"')
    bind.exec_driver_sql(f'ALTER TABLE "{rebuilt}" RENAME TO "{table}"')
    for sql in dependents:
        bind.exec_driver_sql(sql)


def _declared(create: str, table: str, autoincrement: bool) -> str:
    """The table's CREATE statement with its id declared as AUTOINCREMENT, or back to the plain
    primary key the models wrote before; a statement of another shape stops the migration."""
    constraint = f"CONSTRAINT pk_{table} PRIMARY KEY"
    if autoincrement:
        patterns = [
            (r"\bid INTEGER NOT NULL,", f"id INTEGER NOT NULL {constraint} AUTOINCREMENT,"),
            (rf",\s*{constraint} \(id\)", ""),
        ]
    else:
        patterns = [
            (rf"\bid INTEGER NOT NULL {constraint} AUTOINCREMENT,", "id INTEGER NOT NULL,"),
            (r"\s*\)\s*$", f", \n\t{constraint} (id)\n)"),
        ]
    for pattern, replacement in patterns:
        create, found = re.subn(pattern, replacement, create, count=1)
        if not found:
            raise RuntimeError(f"table {table} is not as this migration expects: {create}")
    return create


def _renamed(create: str, table: str, new_name: str) -> str:
    renamed, found = re.subn(
        rf'^CREATE TABLE "?{table}"? \(', f'CREATE TABLE "{new_name}" (', create, count=1
    )
    if not found:
        raise RuntimeError(f"table {table} is not as this migration expects: {create}")
    return renamed
