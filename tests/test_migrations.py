"""The migrations build the schema the models describe, on the session's database engine
(SQLite or PostgreSQL), can be undone and applied again, and upgrade a database the old main
made (before the code moved into packages) without losing or misreading a row."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask.testing import FlaskClient
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    LargeBinary,
    bindparam,
    create_engine,
    text,
)
from sqlalchemy.exc import SAWarning
from sqlalchemy.orm import selectinload
from werkzeug.security import generate_password_hash

from dashboard.auth.accounts import find_user
from dashboard.auth.tokens import user_for_token
from dashboard.campaigns.import_report import import_of, problems_of
from dashboard.extensions import db
from dashboard.models import Campaign, Message, MessageStatus, find_template
from dashboard.models.caught import kept_by_the_database
from dashboard.ops.caught_mail import find_caught, parse_caught
from dashboard.ops.local_stack import process_env
from dashboard.reporting.sent_hours import sent_in_hours
from dashboard.sending.suppression import suppressed_among
from tests import engines
from tests.auth_helpers import sign_in
from tests.conftest import ROOT, AppFactory, app_config


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    if engines.TEST_DATABASE == "postgresql":
        with engines.postgres_database(engines.session_name("dispatcher_migrations")) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"


def flask_db(database_url: str, tmp_path: Path, *args: str, code: Path = ROOT) -> str:
    """`flask db <args>` as `make run` runs it, by the code in `code` (this checkout's, unless
    told otherwise) on `database_url`; returns what it logged."""
    settings = {
        "DATABASE_URL": database_url,
        "INSTANCE_DIR": str(tmp_path),
        # The `dashboard` and `wsgi` of `code` come first, whatever else is on the path.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-m", "flask", "db", *args],
        cwd=code,
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
            # Caught mail's search index (FTS5 / pg_trgm) is the database's, not the models'.
            context = MigrationContext.configure(
                connection,
                opts={"include_name": lambda name, *_: not kept_by_the_database(name)},
            )
            return compare_metadata(context, db.metadata)
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


# The last commit of the layout before the code moved into packages (dashboard/models/,
# sending/, campaigns/, ...), and the newest migration it had: databases in use were made by it.
OLD_MAIN = "54ff943"
OLD_MAIN_HEAD_REVISION = "3f1d8c27a9b5"
SUBJECT = "Thông báo: hoá đơn tháng 12 — đã sẵn sàng ✓"
TEXT_BODY = "Kính gửi quý khách,\nhoá đơn tháng 12 đã sẵn sàng. Trân trọng!"
RECIPIENT, RECIPIENT_NAME = "hoa.nguyen@example.vn", "Nguyễn Thị Hoa"
USER_EMAIL, USER_PASSWORD = "quan.tri@example.vn", "mật khẩu đủ dài của quản trị"
TOKEN = "edt_token-of-the-old-main-" + "x" * 20
CREATED_AT = datetime(2026, 11, 20, 9, 0, 0, 250000)
SENT_AT = datetime(2026, 11, 20, 9, 30, 15, 123456)
SENT_HOUR = datetime(2026, 11, 20, 9)
RETRY_AT = datetime(2026, 11, 20, 10, 0, 0)


def old_main_tree(tmp_path: Path) -> Path:
    """The old main's code that made databases (package, migrations, entry point), from git."""
    found = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{OLD_MAIN}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.fail(
            f"commit {OLD_MAIN} (the old main, whose databases must upgrade) is not in this "
            "clone; the upgrade test needs the full history (e.g. actions/checkout with "
            "fetch-depth: 0, or `git fetch --unshallow`)",
            pytrace=False,
        )
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", OLD_MAIN, "migrations", "dashboard", "wsgi.py"],
        capture_output=True,
        check=True,
    )
    old = tmp_path / "old-main"
    old.mkdir()
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    # The old layout, not the new one: what runs there is the old models and migrations.
    assert (old / "dashboard" / "models.py").is_file()
    return old


def insert(connection: Connection, table: str, key: str | None = "id", **values: object) -> Any:
    """A plain INSERT with the old schema's column names; returns the new row's `key`."""
    types = {datetime: DateTime(), bytes: LargeBinary(), bool: Boolean()}
    statement = text(
        f'INSERT INTO "{table}" ({", ".join(values)}) VALUES ({", ".join(f":{c}" for c in values)})'
        + (f" RETURNING {key}" if key else "")
    ).bindparams(
        *(
            bindparam(column, type_=types[type(value)])
            for column, value in values.items()
            if type(value) in types
        )
    )
    result = connection.execute(statement, values)
    return result.scalar_one() if key else None


@dataclass(frozen=True)
class OldRows:
    campaign: int
    sent: int
    failed: int
    csv_campaign: int
    template: int
    caught: int


def seed_old_rows(database_url: str) -> OldRows:
    """Rows as the old main wrote them: a campaign in several states with its attempts, a
    person and their API token, a suppression, a saved template, a CSV campaign with a problem
    row, the hourly count and a caught mail."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            user = insert(
                connection,
                "user",
                email=USER_EMAIL,
                password_hash=generate_password_hash(USER_PASSWORD, method="scrypt"),
                is_admin=True,
                created_at=CREATED_AT,
            )
            insert(
                connection,
                "api_token",
                user_id=user,
                name="máy chủ hoá đơn",
                token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(),
                prefix=TOKEN[:10],
                created_at=CREATED_AT,
            )
            campaign = insert(
                connection,
                "campaign",
                source="api",
                queue="transactional",
                from_address="ke.toan@example.vn",
                from_name="Phòng Kế toán",
                subject=SUBJECT,
                text_body=TEXT_BODY,
                html_body="<p>Hoá đơn tháng 12 đã sẵn sàng.</p>",
                created_at=CREATED_AT,
                merge=False,
            )
            insert(
                connection,
                "attachment",
                campaign_id=campaign,
                filename="hoá-đơn-12.pdf",
                content_type="application/pdf",
                data=b"%PDF-1.4\n\x00\xff hoa don",
            )
            messages = {}
            for n, (status, address, name) in enumerate(
                [
                    ("sent", RECIPIENT, RECIPIENT_NAME),
                    ("sent", "tuan.tran@example.vn", "Trần Anh Tuấn"),
                    ("failed", "khong.ton.tai@example.vn", ""),
                    ("retrying", "cham@example.vn", "Lê Chậm"),
                    ("queued", "cho@example.vn", ""),
                    ("cancelled", "huy@example.vn", ""),
                ]
            ):
                sent = status == "sent"
                messages[address] = insert(
                    connection,
                    "message",
                    campaign_id=campaign,
                    to_address=address,
                    to_name=name,
                    status=status,
                    attempts={"sent": 1, "failed": 1, "retrying": 2}.get(status, 0),
                    last_code={"sent": 250, "failed": 550, "retrying": 451}.get(status),
                    last_reply={
                        "sent": "2.0.0 Ok: queued",
                        "failed": "5.1.1 Người nhận không tồn tại",
                        "retrying": "4.2.1 Thử lại sau",
                    }.get(status),
                    message_id_header=f"<old-main-{n}@example.vn>",
                    created_at=CREATED_AT,
                    next_attempt_at=RETRY_AT if status == "retrying" else None,
                    stale_resends=0,
                    sent_at=SENT_AT if sent else None,
                    updated_at=SENT_AT,
                )
            for address, outcome, code, reply in [
                (RECIPIENT, "sent", 250, "2.0.0 Ok: queued"),
                ("tuan.tran@example.vn", "sent", 250, "2.0.0 Ok: queued"),
                ("khong.ton.tai@example.vn", "permanent", 550, "5.1.1 Người nhận không tồn tại"),
                ("cham@example.vn", "transient", 451, "4.2.1 Thử lại sau"),
                ("cham@example.vn", "transient", 451, "4.2.1 Thử lại sau"),
            ]:
                insert(
                    connection,
                    "delivery_attempt",
                    message_id=messages[address],
                    outcome=outcome,
                    smtp_code=code,
                    smtp_reply=reply,
                    worker="celery@old-main",
                    task_id="task-old-main",
                    duration_ms=42,
                    finished_at=SENT_AT,
                )
            insert(
                connection,
                "sent_hour",
                key=None,
                hour=SENT_HOUR,
                sent=2,
            )
            insert(
                connection,
                "suppression",
                address="da.huy@example.vn",
                reason="unsubscribed",
                note="Khách hàng đã huỷ đăng ký",
                created_at=CREATED_AT,
            )
            template = insert(
                connection,
                "message_template",
                name="Hoá đơn hằng tháng",
                subject="Hoá đơn tháng {{ thang }} của {{ ten }}",
                text_body="Chào {{ ten }},\nhoá đơn của bạn đã sẵn sàng.",
                created_at=CREATED_AT,
                updated_at=CREATED_AT,
            )
            csv_campaign = insert(
                connection,
                "campaign",
                source="csv",
                queue="bulk",
                from_address="ke.toan@example.vn",
                from_name="Phòng Kế toán",
                subject="Hoá đơn tháng {{ thang }} của {{ ten }}",
                text_body="Chào {{ ten }}",
                created_at=CREATED_AT,
                merge=True,
            )
            csv_file = "email,ten,thang\nan@example.vn,Phạm An,12\nkhông-phải-email,Vũ Bình,12\n"
            csv_import = insert(
                connection,
                "csv_import",
                campaign_id=csv_campaign,
                filename="khách-hàng.csv",
                size_bytes=len(csv_file.encode()),
                encoding="utf-8",
                delimiter=",",
                columns_json='["email", "ten", "thang"]',
                status="ready",
                bytes_read=len(csv_file.encode()),
                rows_read=2,
                rows_valid=1,
                rows_invalid=1,
                duplicates=0,
                suppressed=0,
                created_at=CREATED_AT,
                started_at=CREATED_AT,
                finished_at=SENT_AT,
            )
            insert(connection, "csv_chunk", import_id=csv_import, seq=0, data=csv_file.encode())
            insert(
                connection,
                "csv_problem",
                import_id=csv_import,
                line=3,
                email="không-phải-email",
                reason="không phải địa chỉ email hợp lệ",
            )
            insert(
                connection,
                "message",
                campaign_id=csv_campaign,
                to_address="an@example.vn",
                to_name="Phạm An",
                status="draft",
                attempts=0,
                message_id_header="<old-main-csv-1@example.vn>",
                created_at=CREATED_AT,
                stale_resends=0,
                updated_at=CREATED_AT,
                merge_data='{"email": "an@example.vn", "ten": "Phạm An", "thang": "12"}',
            )
            caught = EmailMessage()
            caught["From"] = "Phòng Kế toán <ke.toan@example.vn>"
            caught["To"] = RECIPIENT
            caught["Subject"] = SUBJECT
            caught.set_content(TEXT_BODY)
            caught_id = insert(
                connection,
                "caught_mail",
                received_at=SENT_AT,
                peer="127.0.0.1:40000",
                mail_from="ke.toan@example.vn",
                rcpt_tos=f'["{RECIPIENT}"]',
                subject=SUBJECT,
                raw=caught.as_bytes(policy=SMTP),
            )
    finally:
        engine.dispose()
    return OldRows(
        campaign,
        messages[RECIPIENT],
        messages["khong.ton.tai@example.vn"],
        csv_campaign,
        template,
        caught_id,
    )


def test_a_database_made_by_the_old_main_upgrades_and_reads_back_with_the_new_code(
    empty_database: str,
    tmp_path: Path,
    stack_settings: dict[str, str],
    make_app: AppFactory,
) -> None:
    """The code moved into packages without a schema change: a database the old main made and
    filled must upgrade to the new code's schema and read back the same, in models and pages."""
    made = flask_db(empty_database, tmp_path, "upgrade", code=old_main_tree(tmp_path))
    assert f"-> {OLD_MAIN_HEAD_REVISION}," in made
    rows = seed_old_rows(empty_database)

    flask_db(empty_database, tmp_path, "upgrade")
    assert schema_differences(empty_database) == []
    assert missing_expression_indexes(empty_database) == set()

    settings = {**stack_settings, "DATABASE_URL": empty_database, "INSTANCE_DIR": str(tmp_path)}
    app = make_app(app_config(settings))
    with app.app_context():
        campaign = db.session.get(Campaign, rows.campaign)
        assert campaign.subject.encode() == SUBJECT.encode()
        assert (campaign.from_name, campaign.text_body) == ("Phòng Kế toán", TEXT_BODY)
        assert [(a.filename, a.data) for a in campaign.attachments] == [
            ("hoá-đơn-12.pdf", b"%PDF-1.4\n\x00\xff hoa don")
        ]
        progress = campaign.progress()
        assert progress.counts == {
            MessageStatus.SENT: 2,
            MessageStatus.FAILED: 1,
            MessageStatus.RETRYING: 1,
            MessageStatus.QUEUED: 1,
            MessageStatus.CANCELLED: 1,
        }
        assert (progress.total, progress.done, progress.status) == (6, 4, "sending")
        sent = db.session.get(Message, rows.sent, options=[selectinload(Message.attempts_log)])
        assert (sent.to_address, sent.to_name, sent.status) == (RECIPIENT, RECIPIENT_NAME, "sent")
        assert (sent.sent_at, sent.updated_at, sent.created_at) == (SENT_AT, SENT_AT, CREATED_AT)
        assert [(a.outcome, a.smtp_code, a.finished_at) for a in sent.attempts_log] == [
            ("sent", 250, SENT_AT)
        ]
        assert sent_in_hours(SENT_HOUR, SENT_HOUR + timedelta(hours=1)) == {SENT_HOUR: 2}
        user = find_user(USER_EMAIL)
        assert user is not None and user.is_admin and user.is_active
        assert user_for_token(TOKEN) == user
        assert suppressed_among(["da.huy@example.vn", RECIPIENT]) == {"da.huy@example.vn"}
        assert find_template(rows.template).subject == "Hoá đơn tháng {{ thang }} của {{ ten }}"
        csv_import = import_of(rows.csv_campaign)
        assert (csv_import.columns, csv_import.is_done) == (["email", "ten", "thang"], True)
        assert [(p.line, p.email) for p in problems_of(csv_import.id)] == [(3, "không-phải-email")]
        caught = parse_caught(find_caught(rows.caught))
        assert (caught.mail.subject, caught.recipients) == (SUBJECT, [RECIPIENT])
        assert caught.text.splitlines() == TEXT_BODY.splitlines()  # sent with CRLF
        # Backfilled by the migration that added them, as the catcher now stores them.
        assert caught.mail.from_header == "Phòng Kế toán <ke.toan@example.vn>"
        assert caught.mail.to_header == RECIPIENT
        assert "phòng kế toán" in caught.mail.search_text
        assert SUBJECT.lower() in caught.mail.search_text

    # As a person: the old main's user signs in with their password and reads the pages.
    client = FlaskClient(app, app.response_class, use_cookies=True)
    assert sign_in(client, USER_EMAIL, USER_PASSWORD).status_code == 302
    history = client.get("/history/")
    assert history.status_code == 200
    page = history.get_data(as_text=True)
    assert RECIPIENT in page and RECIPIENT_NAME in page and SUBJECT in page
    detail = client.get(f"/history/{rows.failed}").get_data(as_text=True)
    assert "khong.ton.tai@example.vn" in detail and "5.1.1 Người nhận không tồn tại" in detail
    assert SUBJECT in client.get("/outbox/").get_data(as_text=True)
    assert "da.huy@example.vn" in client.get("/suppressions/").get_data(as_text=True)
    assert "Hoá đơn hằng tháng" in client.get("/templates/").get_data(as_text=True)
    csv_page = client.get(f"/campaigns/{rows.csv_campaign}").get_data(as_text=True)
    assert "không-phải-email" in csv_page and "không phải địa chỉ email hợp lệ" in csv_page
    invalid_rows = client.get(f"/campaigns/{rows.csv_campaign}/invalid-rows.csv")
    assert "không phải địa chỉ email hợp lệ" in invalid_rows.get_data(as_text=True)
    # And a program, with the API token the old main issued.
    api = FlaskClient(app, app.response_class)
    job = api.get(f"/api/v1/emails/{rows.campaign}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert job.status_code == 200
    assert job.json["subject"] == SUBJECT
    assert job.json["counts"] == {
        "draft": 0,
        "scheduled": 0,
        "queued": 1,
        "sending": 0,
        "retrying": 1,
        "sent": 2,
        "failed": 1,
        "cancelled": 1,
        "bounced": 0,
    }
    assert {m["to"]: m["sent_at"] for m in job.json["messages"] if m["status"] == "sent"} == {
        RECIPIENT: SENT_AT.isoformat(timespec="seconds") + "Z",
        "tuan.tran@example.vn": SENT_AT.isoformat(timespec="seconds") + "Z",
    }
