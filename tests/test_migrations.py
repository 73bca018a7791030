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
from sqlalchemy import create_engine, text

from dashboard.extensions import db
from tests import engines
from tests.conftest import ROOT, _process_env


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
        env=_process_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"flask db {' '.join(args)}:\n{result.stderr}"
    return result.stderr


# SQLite cannot reflect an index on an expression (the recipient search's lower(to_address)),
# so there it is neither compared nor reported missing; PostgreSQL compares it like the rest.
EXPRESSION_INDEXES = {"ix_message_to_address_lower"}


def schema_differences(database_url: str) -> list[object]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection, warnings.catch_warnings():
            if engine.dialect.name == "sqlite":
                for text in ("Skipped unsupported reflection", "autogenerate skipping metadata"):
                    warnings.filterwarnings("ignore", f"{text}.*expression-based index")
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    finally:
        engine.dispose()
    if engine.dialect.name != "sqlite":
        return differences
    return [d for d in differences if not _is_expression_index(d)]


def expression_indexes_present(database_url: str) -> set[str]:
    """The expression indexes that exist, read from the catalogue (SQLite cannot reflect them)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                name
                for name in EXPRESSION_INDEXES
                if connection.execute(
                    text(
                        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :name"
                        if engine.dialect.name == "sqlite"
                        else "SELECT 1 FROM pg_indexes WHERE indexname = :name"
                    ),
                    {"name": name},
                ).first()
            }
    finally:
        engine.dispose()


def _is_expression_index(difference: object) -> bool:
    return (
        isinstance(difference, tuple)
        and difference[0] in ("add_index", "remove_index")
        and difference[1].name in EXPRESSION_INDEXES
    )


def test_migrations_build_the_models_schema_down_and_up_again(
    empty_database: str, tmp_path: Path
) -> None:
    assert "Running upgrade  -> 2513ebfae28c" in flask_db(empty_database, tmp_path, "upgrade")
    assert schema_differences(empty_database) == []
    assert expression_indexes_present(empty_database) == EXPRESSION_INDEXES
    assert "Running downgrade 2513ebfae28c -> " in flask_db(
        empty_database, tmp_path, "downgrade", "base"
    )
    flask_db(empty_database, tmp_path, "upgrade")
    assert schema_differences(empty_database) == []
    assert expression_indexes_present(empty_database) == EXPRESSION_INDEXES
