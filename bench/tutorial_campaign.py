"""The typical Flask + Celery tutorial's campaign, for comparison only: one Celery task per
email, the templates rendered with Jinja, an `EmailMessage` built per message (List-Unsubscribe
added as the project adds it), a new SMTP connection each, the result stored in the backend.
It sends the workload of `bench/workload.py`, so its messages are the project's size.

Run by `bench/csv_campaign.py` as `celery -A bench.tutorial_campaign worker`, with
`BENCH_TUTORIAL_BROKER` in the environment.
"""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage

from celery import Celery
from jinja2 import Environment

from bench.workload import HTML, SENDER, SENDER_NAME, SUBJECT, TEXT

app = Celery(
    "tutorial_campaign",
    broker=os.environ["BENCH_TUTORIAL_BROKER"],
    backend=os.environ["BENCH_TUTORIAL_BROKER"],
)
app.conf.task_default_queue = "tutorial"

_subject = Environment().from_string(SUBJECT)
_text = Environment().from_string(TEXT)
_html = Environment(autoescape=True).from_string(HTML)


@app.task(name="tutorial.send_campaign_email")
def send_campaign_email(
    to: str, name: str, city: str, unsubscribe_url: str, host: str, port: int
) -> str:
    values = {"name": name, "city": city, "unsubscribe_url": unsubscribe_url}
    message = EmailMessage()
    message["From"] = f"{SENDER_NAME} <{SENDER}>"
    message["To"] = f"{name} <{to}>"
    message["Subject"] = _subject.render(values)
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(_text.render(values))
    message.add_alternative(_html.render(values), subtype="html")
    with smtplib.SMTP(host, port) as connection:
        connection.send_message(message)
    return "sent"
