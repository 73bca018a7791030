"""The statistics page and `GET /api/v1/stats` count what the database holds: seeded histories
in a quiet stretch of 2020 that no other test writes to."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from dashboard.auth.accounts import create_user
from dashboard.extensions import db
from dashboard.models import Message
from dashboard.reporting.history_export import COLUMNS
from tests.conftest import ROOT, AdminIdentity, AppFactory, app_config, authenticated_client_class
from tests.history_rows import seed_campaign, shown_ids
from tests.smtp_server import free_port

# Each test has its own two days (so hourly buckets) of the quiet past.
FEBRUARY = datetime(2020, 2, 3)
MAY = datetime(2020, 5, 3)


def days_of(start: datetime) -> dict[str, str]:
    return {"since": f"{start:%Y-%m-%d}", "until": f"{start + timedelta(days=1):%Y-%m-%d}"}


def seed_history(app: Flask, unique: str, start: datetime) -> tuple[int, int, list[int]]:
    def at(hours: float) -> datetime:
        return start + timedelta(hours=hours)

    def sent(hours: float, minute_offset: float = 0, **extra) -> dict:
        return {
            "to_address": extra.pop("to", f"s{hours}-{minute_offset}-{unique}@example.vn"),
            "status": "sent",
            "created_at": at(hours),
            "sent_at": at(hours) + timedelta(minutes=minute_offset),
            "updated_at": at(hours) + timedelta(minutes=minute_offset),
            "attempts": extra.pop("attempts", 1),
            "sent_attempts": extra.pop("sent_attempts", 1),
            "last_code": 250,
            **extra,
        }

    def failed(hours: float, code: int, domain: str, name: str) -> dict:
        return {
            "to_address": f"{name}-{unique}@{domain}",
            "status": "failed",
            "created_at": at(hours),
            "updated_at": at(hours) + timedelta(minutes=2),
            "attempts": 1,
            "failed_attempts": 1,
            "last_code": code,
        }

    first, first_ids = seed_campaign(
        app,
        [
            sent(1, 0),
            sent(1, 1),
            sent(1, 1.5),
            sent(1, 2, attempts=2, failed_attempts=1),  # retried, then sent
            sent(1, 3, attempts=2, sent_attempts=2),  # sent twice: a duplicate
            failed(1, 550, "example.vn", "a"),
            failed(1, 550, "Example.VN", "b"),
            failed(2, 550, "gmail.com", "c"),
            failed(2, 421, "example.vn", "d"),
            {
                "to_address": f"q-{unique}@example.vn",
                "status": "queued",
                "created_at": at(2),
                "updated_at": at(2),
            },
            {
                "to_address": f"z-{unique}@example.vn",
                "status": "scheduled",
                "created_at": at(2),
                "updated_at": at(2),
            },
            {
                "to_address": f"x-{unique}@example.vn",
                "status": "draft",
                "created_at": at(2),
                "updated_at": at(2),
            },
        ],
        subject=f"Khuyến mãi tháng 2 {unique}",
        created_at=at(1),
    )
    second, _ = seed_campaign(
        app,
        [sent(30, m / 2) for m in range(12)],  # 12 sent over 6 minutes, the next day
        subject=f"Nhắc lịch {unique}",
        created_at=at(30),
    )
    return first, second, first_ids


def test_the_numbers_equal_the_database_counts(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    first, second, first_ids = seed_history(app, unique, FEBRUARY)
    stats = client.get("/api/v1/stats", query_string=days_of(FEBRUARY)).json
    assert stats["range"] == {
        "start": "2020-02-03T00:00:00Z",
        "end": "2020-02-05T00:00:00Z",
        "unit": "hour",
        "zone": "UTC",
    }
    totals = stats["totals"]
    # What happened in the range: the sums of the chart below.
    assert (totals["sent"], totals["failed"]) == (17, 4)
    assert (totals["retried"], totals["duplicates"]) == (2, 1)
    assert totals["success_rate"] == 17 / 21
    assert "cancelled" not in totals["counts"]
    # What waits now, whenever it was created; a draft (not confirmed) is not counted.
    with app.app_context():
        for status in ("queued", "scheduled"):
            waiting = select(func.count()).where(Message.status == status)
            assert totals[status] == totals["counts"][status] == db.session.scalar(waiting) >= 1
    assert "draft" not in totals["counts"]
    assert totals["total"] == sum(totals["counts"].values())

    series = stats["series"]
    assert len(series) == 48
    assert sum(p["sent"] for p in series) == totals["sent"]
    assert sum(p["failed"] for p in series) == totals["failed"]
    nonzero = {p["start"]: (p["sent"], p["failed"]) for p in series if p["sent"] or p["failed"]}
    assert nonzero == {
        "2020-02-03T01:00:00Z": (5, 2),
        "2020-02-03T02:00:00Z": (0, 2),
        "2020-02-04T06:00:00Z": (12, 0),
    }
    # The chart is the database's count, bucket by bucket.
    with app.app_context():
        for point in series:
            start = datetime.fromisoformat(point["start"].removesuffix("Z"))
            end = start + timedelta(hours=1)
            assert point["sent"] == db.session.scalar(
                select(func.count()).where(Message.sent_at >= start, Message.sent_at < end)
            )
            assert point["failed"] == db.session.scalar(
                select(func.count()).where(
                    Message.status == "failed",
                    Message.updated_at >= start,
                    Message.updated_at < end,
                )
            )

    assert [(g["code"], g["domain"], g["count"]) for g in stats["failures"]] == [
        (550, "example.vn", 2),
        (421, "example.vn", 1),
        (550, "gmail.com", 1),
    ]
    # Each group links to the history view of exactly its messages.
    url = stats["failures"][0]["history_url"].removeprefix(app.config["PUBLIC_BASE_URL"])
    assert shown_ids(client.get(url).get_data(as_text=True)) == [first_ids[6], first_ids[5]]

    campaigns = {c["id"]: c for c in stats["campaigns"]}
    assert set(campaigns) == {first, second}
    assert {k: campaigns[first][k] for k in ("recipients", "sent", "failed")} == {
        "recipients": 12,  # a draft is a recipient too, not yet confirmed
        "sent": 5,
        "failed": 4,
    }
    assert campaigns[first]["duration_seconds"] == 180
    assert campaigns[second]["duration_seconds"] == 330
    assert campaigns[second]["messages_per_second"] == 12 / 330
    [latest, earlier] = stats["throughput"]
    assert latest["campaign_id"] == second
    assert [p["sent"] for p in latest["per_minute"]] == [2, 2, 2, 2, 2, 2]
    assert [p["sent"] for p in earlier["per_minute"]] == [1, 2, 1, 1]


def test_the_page_draws_the_same_numbers(app: Flask, client: FlaskClient, unique: str) -> None:
    first, _, _ = seed_history(app, unique, MAY)
    response = client.get("/stats/", query_string=days_of(MAY))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.search(r'id="total-sent"><strong>17</strong>', page)
    assert re.search(r'id="total-duplicates"><strong>1</strong>', page)
    assert re.search(r'id="success-rate"><strong>81.0%</strong>', page)
    bars = re.findall(r"<title>(2020-05-0\d \d\d: \d+ (?:sent|failed))</title>", page)
    assert sorted(bars) == [
        "2020-05-03 01: 2 failed",
        "2020-05-03 01: 5 sent",
        "2020-05-03 02: 2 failed",
        "2020-05-04 06: 12 sent",
    ]
    assert f"/history/?campaign={first}" in page
    assert 'hx-trigger="load"' in page  # the live panel comes after the first paint
    assert "/history/?status=failed&amp;code=550&amp;domain=example.vn" in page


def test_a_campaign_sent_within_a_second_shows_its_speed_on_both_pages(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    day = datetime(2020, 6, 2, 10, 0)
    campaign, _ = seed_campaign(
        app,
        [
            {
                "to_address": f"r{i}-{unique}@example.vn",
                "status": "sent",
                "sent_at": day + timedelta(seconds=0.2 * i),
                "sent_attempts": 1,
            }
            for i in range(3)
        ],
        created_at=day,
    )
    [row] = client.get("/api/v1/stats", query_string=days_of(day)).json["campaigns"]
    assert row["id"] == campaign and row["messages_per_second"] == 3 / 0.4
    page = client.get("/stats/", query_string=days_of(day)).get_data(as_text=True)
    assert re.search(
        r"<td class=\"num\" data-label=\"Duration\">0\.4 s</td>\s*"
        r"<td class=\"num\" data-label=\"Messages/s\">7\.5</td>",
        page,
    )
    assert client.get(f"/api/v1/campaigns/{campaign}").json["messages_per_second"] == 7.5


def test_the_live_panel_names_the_running_worker(client: FlaskClient) -> None:
    # The panel gives the workers a second to answer; a worker busy on a loaded machine may
    # miss one asking, so the page is asked again as its own polling would (five at most).
    for _ in range(5):
        panel = client.get("/stats/system").get_data(as_text=True)
        if 'id="workers-online">1<' in panel:
            break
    assert re.search(r"<strong>tests-\d+@[^<]+</strong>: (idle|[a-z_]+)", panel)
    assert 'id="workers-online">1<' in panel
    assert "transactional: <strong>" in panel and "bulk: <strong>" in panel
    # The test stack sets a daily quota of 1,000,000 (RATE_LIMIT_PER_DAY).
    assert re.search(r"<strong>\d+</strong> of 1000000 messages left today \(\d+ used\)", panel)
    assert 'hx-trigger="every 5s"' in panel


def test_the_panel_says_so_when_the_broker_does_not_answer(
    stack_settings: dict[str, str],
    admin_identity: AdminIdentity,
    make_app: AppFactory,
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = make_app(app_config({**stack_settings, "CELERY_BROKER_URL": closed}))
    app.test_client_class = authenticated_client_class(admin_identity)
    panel = app.test_client().get("/stats/system").get_data(as_text=True)
    assert 'id="broker-problem"' in panel and "workers and queues are unknown" in panel
    assert "transactional: <strong>?</strong>" in panel
    assert "messages left today" in panel  # the rate limit lives in Redis, not in the broker


def test_bad_ranges_are_refused_with_a_reason(client: FlaskClient) -> None:
    answer = client.get("/api/v1/stats?range=1y&unit=week")
    assert answer.status_code == 422
    assert set(answer.json["error"]["fields"]) == {"range", "unit"}
    page = client.get("/stats/?since=2020-13-01")
    assert page.status_code == 422
    assert "is not a date like 2026-11-25" in page.get_data(as_text=True)
    too_fine = client.get("/api/v1/stats?since=2020-01-01&until=2020-12-31&unit=hour")
    assert too_fine.status_code == 422
    assert "use day" in too_fine.json["error"]["fields"]["unit"]
    misspelt = client.get("/api/v1/stats?rnage=30d")
    assert misspelt.status_code == 422
    assert "use range, since, until, unit or zone" in misspelt.json["error"]["fields"]["rnage"]
    unknown_zone = client.get("/api/v1/stats?zone=Mars/Olympus")
    assert unknown_zone.status_code == 422
    assert "Mars/Olympus" in unknown_zone.json["error"]["fields"]["zone"]


def test_history_and_statistics_render_for_an_empty_database(
    stack_settings: dict[str, str], tmp_path: Path, make_app: AppFactory
) -> None:
    settings = {**stack_settings, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    env = {**os.environ, **settings, "FLASK_APP": "wsgi"}
    upgrade = subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    app = make_app(app_config(settings))
    with app.app_context():  # someone has to sign in; a user is no message
        session_id = create_user(
            "first@example.com", "correct horse battery staple", role="admin"
        ).get_id()
    client = app.test_client()
    with client.session_transaction() as session:  # what flask_login.login_user stores
        session["_user_id"] = session_id
    history = client.get("/history/")
    assert history.status_code == 200
    assert "No messages yet." in history.get_data(as_text=True)
    page = client.get("/stats/?range=30d")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="no-failures"' in html and 'id="no-campaigns"' in html
    assert "nothing in this range" in html
    stats = client.get("/api/v1/stats?range=24h").json
    assert stats["totals"]["total"] == 0 and stats["totals"]["success_rate"] is None
    assert len(stats["series"]) == 24 and not any(p["sent"] for p in stats["series"])
    export = client.get("/history/export.csv")
    assert export.get_data().decode("utf-8-sig").strip() == ",".join(COLUMNS)


def test_the_throughput_charts_read_in_the_person_s_zone(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    day = datetime(2020, 6, 3, 10, 0)  # UTC; 17:00 in Hồ Chí Minh City
    seed_campaign(
        app,
        [
            {
                "to_address": f"z{i}-{unique}@example.vn",
                "status": "sent",
                "sent_at": day + timedelta(seconds=30 * i),
                "sent_attempts": 1,
            }
            for i in range(4)
        ],
        created_at=day,
    )
    zone = app.config["DISPLAY_TIMEZONE"]
    app.config["DISPLAY_TIMEZONE"] = "Asia/Ho_Chi_Minh"
    try:
        page = client.get("/stats/", query_string=days_of(day)).get_data(as_text=True)
    finally:
        app.config["DISPLAY_TIMEZONE"] = zone
    charts = page.split("throughput-chart")[1]
    assert ">17:00<" in charts and ">17:01<" in charts
    assert ">10:00<" not in charts
