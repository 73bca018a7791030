"""The API intake writes through a connection of its own, outside the pool, kept while writes
keep coming: the pool lends it none of its connections; a kept connection the database closed
under it (here its PostgreSQL backend terminated, or its SQLite handle closed) costs no email,
the next write goes through a new one; disposing the app's engine closes it too."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from dashboard.extensions import db
from tests.conftest import messages_of, wait_until


def _post(client: FlaskClient, unique: str, number: int) -> int:
    response = client.post(
        "/api/v1/emails",
        json={"to": f"n{number}-{unique}@example.vn", "subject": f"Mã {number}", "text": "x"},
    )
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def _close_under_it(app: Flask, dbapi_connection: object) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            dbapi_connection.close()
            return
        pid = dbapi_connection.info.backend_pid
        db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        db.session.commit()

        def gone() -> bool:
            found = db.session.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar_one()
            db.session.rollback()
            return found == 0

        wait_until(gone, timeout=10, what="the terminated backend to go")


def test_the_intake_keeps_its_own_connection_and_survives_losing_it(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    first = _post(client, unique, 1)
    intake = app.extensions["dispatcher_group_commit"]
    kept = intake.connection
    assert kept is not None and kept.is_detached  # not one of the pool's

    _close_under_it(app, kept.dbapi_connection)
    second = _post(client, unique, 2)
    assert intake.connection is not None and intake.connection is not kept
    for number, campaign_id in ((1, first), (2, second)):
        [message] = messages_of(app, campaign_id)
        assert message.to_address == f"n{number}-{unique}@example.vn"

    # The requests' session first: pytest-flask keeps their app context pushed, and a connection
    # still lent when the pool is disposed would be left to the garbage collector.
    db.session.remove()
    with app.app_context():
        db.engine.dispose()
    assert intake.connection is None
