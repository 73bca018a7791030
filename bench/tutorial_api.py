"""The tutorial design of an email API, for comparison only: Flask, one `.delay()` per request,
nothing stored. The task is `bench/tutorial_app.py`'s (one Celery task per email, a new SMTP
connection each); the web app only validates the three fields and publishes it.

Run by `bench/api_intake.py` as `gunicorn bench.tutorial_api:app`, with
`BENCH_TUTORIAL_BROKER`, `BENCH_SMTP_HOST` and `BENCH_SMTP_PORT` in the environment.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request

from bench.tutorial_app import send_email

app = Flask(__name__)
SMTP_HOST = os.environ.get("BENCH_SMTP_HOST", "127.0.0.1")
SMTP_PORT = int(os.environ.get("BENCH_SMTP_PORT", "1025"))


@app.post("/api/v1/emails")
def create_email():
    data = request.get_json(silent=True) or {}
    to, subject, text = data.get("to"), data.get("subject"), data.get("text")
    if not (isinstance(to, str) and "@" in to and subject and text):
        return jsonify({"error": "to, subject and text are required"}), 422
    # The tutorial task takes a name and a city; the subject and text stand in for them.
    result = send_email.delay(to, subject, text, SMTP_HOST, SMTP_PORT)
    return jsonify({"id": result.id, "status": "queued"}), 202
