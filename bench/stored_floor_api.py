"""The least an email API that stores every message in PostgreSQL must do, for comparison only:
the tutorial's Flask view (`bench/tutorial_api.py`: the three fields checked, nothing else),
storing each email in the project's own schema before its 202 instead of publishing it. One
statement a request, committed on its own (autocommit): the email's campaign row (its subject
and text) and its message row, with every index the project's tables carry. No token, no audit
row, no broker, no group commit, no ORM.

Any design that stores the email in that schema before answering does at least this per
request, so its rate is a ceiling for such designs on the machine it runs on: `bench/api_intake.py
--floor` runs it beside the project and the tutorial.

Run by `bench/api_intake.py` as `gunicorn bench.stored_floor_api:app`, with
`BENCH_FLOOR_DATABASE` (a psycopg URL of a database the project's migrations made) in the
environment.
"""

from __future__ import annotations

import os
import threading
import uuid

import psycopg
from flask import Flask, jsonify, request

app = Flask(__name__)
DATABASE = os.environ["BENCH_FLOOR_DATABASE"]
_local = threading.local()

INSERT = """
WITH campaign_row AS (
    INSERT INTO campaign (source, queue, from_address, from_name, subject, text_body, created_at)
    VALUES ('api', 'transactional', 'dispatcher@example.com', '', %(subject)s, %(text)s, now())
    RETURNING id
)
INSERT INTO message (campaign_id, to_address, to_name, status, attempts, message_id_header,
                     created_at, updated_at)
SELECT id, %(to)s, '', 'queued', 0, %(message_id)s, now(), now() FROM campaign_row
RETURNING id
"""


def _connection() -> psycopg.Connection:
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = psycopg.connect(DATABASE, autocommit=True)
    return connection


@app.post("/api/v1/emails")
def create_email():
    data = request.get_json(silent=True) or {}
    to, subject, text = data.get("to"), data.get("subject"), data.get("text")
    if not (isinstance(to, str) and "@" in to and subject and text):
        return jsonify({"error": "to, subject and text are required"}), 422
    message_id = f"<{uuid.uuid4().hex}@example.com>"
    row = _connection().execute(
        INSERT, {"subject": subject, "text": text, "to": to, "message_id": message_id}
    )
    return jsonify({"id": row.fetchone()[0], "status": "queued"}), 202
