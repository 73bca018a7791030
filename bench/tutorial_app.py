"""The typical tutorial design, for comparison only: one Celery task per email, a new SMTP
connection each, an `EmailMessage` built per message, the result stored in the backend.

Run by `bench/csv_campaign.py` as `celery -A bench.tutorial_app worker`.
"""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage

from celery import Celery

app = Celery(
    "tutorial",
    broker=os.environ["BENCH_TUTORIAL_BROKER"],
    backend=os.environ["BENCH_TUTORIAL_BROKER"],
)
app.conf.task_default_queue = "tutorial"


@app.task(name="tutorial.send_email")
def send_email(to: str, name: str, city: str, host: str, port: int) -> str:
    message = EmailMessage()
    message["From"] = "Hệ thống Gửi thư <dispatcher@example.com>"
    message["To"] = f"{name} <{to}>"
    message["Subject"] = f"Chào {name}"
    message.set_content(f"Kính gửi {name} ở {city},\n\nThư mời dành riêng cho bạn.\n")
    message.add_alternative(f"<p>Kính gửi <b>{name}</b> ở {city}</p>", subtype="html")
    with smtplib.SMTP(host, port) as connection:
        connection.send_message(message)
    return "sent"
