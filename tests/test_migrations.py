"""The migrations build the schema the models describe, on the session's database engine
(SQLite or PostgreSQL), and can be undone and applied again."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, create_engine, text
from sqlalchemy.exc import SAWarning

from dashboard.extensions import db
from dashboard.ops.local_stack import process_env
from tests import engines
from tests.conftest import ROOT


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    if engines.TEST_DATABASE == "postgresql":
        with engines.postgres_database(engines.session_name("dispatcher_migrations")) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"


def flask_db(database_url: str, tmp_path: Path, *args: str) -> str:
    settings = {"DATABASE_URL": database_url, "INSTANCE_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "db", *args],
        cwd=ROOT,
        env=process_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"flask db {' '.join(args)}:\n{result.stderr}"
    return result.stderr


def schema_differences(database_url: str) -> list[object]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection, warnings.catch_warnings():
            if engine.dialect.name == "sqlite":
                # SQLite's reflection cannot read an index on an expression (lower(to_address)):
                # SQLAlchemy and alembic warn and leave it out, and compare the rest.
                # missing_expression_indexes() checks those indexes instead.
                warnings.filterwarnings(
                    "ignore", "Skipped unsupported reflection of expression-based index", SAWarning
                )
                warnings.filterwarnings(
                    "ignore", "autogenerate skipping metadata-specified expression-based index"
                )
            return compare_metadata(MigrationContext.configure(connection), db.metadata)
    finally:
        engine.dispose()


def missing_expression_indexes(database_url: str) -> set[str]:
    """The models' indexes on expressions that the database lacks (by name), on SQLite, which
    reflection cannot compare; PostgreSQL's are compared by schema_differences()."""
    if not database_url.startswith("sqlite"):
        return set()
    engine = create_engine(database_url)
    expected = {
        index.name
        for table in db.metadata.tables.values()
        for index in table.indexes
        if any(not isinstance(part, Column) for part in index.expressions)
    }
    try:
        with engine.connect() as connection:
            present = set(
                connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            )
    finally:
        engine.dispose()
    return expected - present


def test_migrations_build_the_models_schema_down_and_up_again(
    empty_database: str, tmp_path: Path
) -> None:
    assert "Running upgrade  -> 2513ebfae28c" in flask_db(empty_database, tmp_path, "upgrade")
    assert schema_differences(empty_database) == []
    assert missing_expression_indexes(empty_database) == set()
    assert "Running downgrade 2513ebfae28c -> " in flask_db(
        empty_database, tmp_path, "downgrade", "base"
    )
    flask_db(empty_database, tmp_path, "upgrade")
    assert schema_differences(empty_database) == []
    assert missing_expression_indexes(empty_database) == set()
