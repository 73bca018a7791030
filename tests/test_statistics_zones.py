"""Statistics in the person's own zone: the range is typed in it, the chart's days and hours are
its days and hours (a day where clocks change is 23 or 25 hours long), and the page says which
zone. Seeded in quiet stretches of 2020 that no other test writes to."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient

from dashboard.extensions import db
from dashboard.models import User
from dashboard.reporting.ranges import parse_range
from tests.auth_helpers import PASSWORD, make_user, sign_in
from tests.history_rows import seed_campaign, shown_ids

BERLIN = ZoneInfo("Europe/Berlin")


def person_in(app: Flask, unique: str, zone: str, language: str) -> FlaskClient:
    """A signed-in admin whose own settings are `zone` and `language`."""
    person = make_user(app, f"zone-{unique}@example.com", role="admin")
    with app.app_context():
        user = db.session.get(User, person.id)
        user.timezone, user.language = zone, language
        db.session.commit()
    client = FlaskClient(app, app.response_class, use_cookies=True)
    assert sign_in(client, person.email, PASSWORD).status_code == 302
    return client


def sent(at: datetime, unique: str, name: str) -> dict:
    return {
        "to_address": f"{name}-{unique}@example.vn",
        "status": "sent",
        "created_at": at,
        "sent_at": at,
        "updated_at": at,
        "attempts": 1,
        "sent_attempts": 1,
        "last_code": 250,
    }


def failed(at: datetime, unique: str, name: str) -> dict:
    return {
        "to_address": f"{name}-{unique}@gmail.com",
        "status": "failed",
        "created_at": at,
        "updated_at": at,
        "attempts": 1,
        "failed_attempts": 1,
        "last_code": 550,
    }


def bar_titles(page: str) -> list[str]:
    """The titles of the sent/failed chart's bars (an empty bar is not drawn)."""
    chart = page.split('id="outcome-chart"')[1].split("</figure>")[0]
    return re.findall(r"<title>([^<]+: \d+ [^<]+)</title>", chart)


def test_a_vietnamese_team_sees_its_own_days_and_hours(app: Flask, unique: str) -> None:
    # 16:30 UTC is 23:30 in Hồ Chí Minh City: the 10th there, however late.
    _, ids = seed_campaign(
        app,
        [
            sent(datetime(2020, 7, 10, 16, 30), unique, "late"),
            sent(datetime(2020, 7, 10, 17, 30), unique, "after-midnight-1"),  # 00:30 on the 11th
            sent(datetime(2020, 7, 10, 17, 45), unique, "after-midnight-2"),
            failed(datetime(2020, 7, 9, 17, 10), unique, "early"),  # 00:10 on the 10th
            sent(datetime(2020, 7, 9, 16, 59), unique, "the-day-before"),  # 23:59 on the 9th
        ],
        created_at=datetime(2020, 7, 9, 16, 0),
    )
    client = person_in(app, unique, "Asia/Ho_Chi_Minh", "vi")
    page = client.get("/stats/?since=2020-07-10&until=2020-07-11&unit=day").get_data(as_text=True)
    assert sorted(bar_titles(page)) == [
        "10/07/2020: 1 thất bại",
        "10/07/2020: 1 đã gửi",
        "11/07/2020: 2 đã gửi",
    ]
    assert re.search(r'id="total-sent"><strong>3</strong>', page)
    label = re.search(r'<p class="meta" id="range-label">([^<]*)', page).group(1)
    assert label.startswith("10/07/2020 00:00 \u2013 11/07/2020 23:59 (Asia/Ho_Chi_Minh)")
    assert "UTC" not in label
    assert '<label for="since">' in page and "(Asia/Ho_Chi_Minh)</label>" in page
    assert "(UTC)" not in page
    # The same night by the hour: the bar of 23h holds the message sent at 16:30 UTC.
    hours = client.get("/stats/?since=2020-07-10T22:00&until=2020-07-11T00:59&unit=hour")
    assert sorted(bar_titles(hours.get_data(as_text=True))) == [
        "10/07/2020 23h: 1 đã gửi",
        "11/07/2020 00h: 2 đã gửi",
    ]
    # Under the axis the hours, with the day where one begins.
    chart = hours.get_data(as_text=True).split('id="outcome-chart"')[1].split("</svg>")[0]
    assert re.findall(r'text-anchor="middle">([^<]+)</text>', chart) == [
        "10/07 22h",
        "23h",
        "11/07 00h",
    ]
    # A failure group's link opens the history of the same local days: it holds that message.
    link = re.search(r'href="(/history/\?status=failed[^"]+)"', page).group(1)
    assert "since=2020-07-10T00:00" in link
    history = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert shown_ids(history) == [ids[3]]


def test_days_and_hours_across_berlin_s_clock_changes(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    reader_in_utc = client  # the session's admin, in the dashboard's zone (UTC)
    seed_campaign(
        app,
        [
            # 29 March 2020: clocks go from 02:00 CET to 03:00 CEST (01:00 UTC); a 23-hour day.
            sent(datetime(2020, 3, 28, 23, 30), unique, "m1"),  # 00:30 CET on the 29th
            failed(datetime(2020, 3, 29, 0, 30), unique, "m2"),  # 01:30 CET on the 29th
            failed(datetime(2020, 3, 29, 21, 59), unique, "m3"),  # 23:59 CEST on the 29th
            sent(datetime(2020, 3, 29, 22, 30), unique, "m4"),  # 00:30 CEST on the 30th
            # 25 October 2020: 03:00 CEST goes back to 02:00 CET (01:00 UTC); 02:xx twice.
            sent(datetime(2020, 10, 25, 0, 10), unique, "o1"),  # 02:10 CEST
            failed(datetime(2020, 10, 25, 0, 30), unique, "o2"),  # 02:30 CEST
            sent(datetime(2020, 10, 25, 1, 10), unique, "o3"),  # 02:10 CET
            sent(datetime(2020, 10, 25, 1, 20), unique, "o4"),  # 02:20 CET
            failed(datetime(2020, 10, 25, 1, 30), unique, "o5"),  # 02:30 CET
            failed(datetime(2020, 10, 25, 1, 40), unique, "o6"),  # 02:40 CET
        ],
        created_at=datetime(2020, 3, 28),
    )
    client = person_in(app, unique, "Europe/Berlin", "en")
    page = client.get("/stats/?since=2020-03-28&until=2020-03-30&unit=day").get_data(as_text=True)
    # A fixed +01:00 would have put 22:30 UTC on the 29th: it is 00:30 on the 30th in Berlin.
    assert sorted(bar_titles(page)) == [
        "2020-03-29: 1 sent",
        "2020-03-29: 2 failed",
        "2020-03-30: 1 sent",
    ]
    assert "per day (Europe/Berlin)" in page
    days = client.get(
        "/api/v1/stats", query_string={"since": "2020-03-28", "until": "2020-03-30",
                                       "unit": "day", "zone": "Europe/Berlin"}
    ).json  # fmt: skip
    assert [(p["start"], p["sent"], p["failed"]) for p in days["series"]] == [
        ("2020-03-27T23:00:00Z", 0, 0),
        ("2020-03-28T23:00:00Z", 1, 2),  # the 23-hour day
        ("2020-03-29T22:00:00Z", 1, 0),
    ]
    # Each group's history link says the offset, so any reader's history shows those messages.
    url = days["failures"][0]["history_url"].removeprefix(app.config["PUBLIC_BASE_URL"])
    assert "since=2020-03-28T00:00%2B01:00" in url
    assert len(shown_ids(reader_in_utc.get(url).get_data(as_text=True))) == 2

    # Hour by hour through the repeated 02:00: two buckets of that name, each with its own.
    night = {"since": "2020-10-25T01:00", "until": "2020-10-25T03:59", "unit": "hour"}
    hours = client.get("/api/v1/stats", query_string={**night, "zone": "Europe/Berlin"}).json
    assert [(p["start"], p["sent"], p["failed"]) for p in hours["series"]] == [
        ("2020-10-24T23:00:00Z", 0, 0),  # 01:00 CEST
        ("2020-10-25T00:00:00Z", 1, 1),  # 02:00 CEST
        ("2020-10-25T01:00:00Z", 2, 2),  # 02:00 CET
        ("2020-10-25T02:00:00Z", 0, 0),  # 03:00 CET
    ]
    page = client.get("/stats/", query_string=night).get_data(as_text=True)
    assert bar_titles(page).count("2020-10-25 02: 2 failed") == 1
    assert bar_titles(page).count("2020-10-25 02: 1 failed") == 1


def test_a_zone_half_an_hour_off_splits_a_utc_hour_between_its_days(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    # Asia/Kolkata is UTC+05:30: its days start at 18:30 UTC, inside an hour of kept counts.
    seed_campaign(
        app,
        [
            sent(datetime(2020, 9, 10, 18, 0), unique, "k1"),  # 23:30 on the 10th
            sent(datetime(2020, 9, 10, 18, 45), unique, "k2"),  # 00:15 on the 11th
            sent(datetime(2020, 9, 10, 18, 50), unique, "k3"),
            failed(datetime(2020, 9, 10, 18, 20), unique, "k4"),  # 23:50 on the 10th
        ],
        created_at=datetime(2020, 9, 10),
    )
    days = client.get(
        "/api/v1/stats", query_string={"since": "2020-09-10", "until": "2020-09-11",
                                       "zone": "Asia/Kolkata"}
    ).json  # fmt: skip
    assert days["range"]["zone"] == "Asia/Kolkata" and days["range"]["unit"] == "hour"
    by_hour = {
        p["start"]: (p["sent"], p["failed"]) for p in days["series"] if p["sent"] or p["failed"]
    }
    assert by_hour == {
        "2020-09-10T17:30:00Z": (1, 1),  # 23:00 to 24:00 on the 10th
        "2020-09-10T18:30:00Z": (2, 0),  # 00:00 to 01:00 on the 11th
    }
    days = client.get(
        "/api/v1/stats", query_string={"since": "2020-09-10", "until": "2020-09-11",
                                       "unit": "day", "zone": "Asia/Kolkata"}
    ).json  # fmt: skip
    assert [(p["start"], p["sent"], p["failed"]) for p in days["series"]] == [
        ("2020-09-09T18:30:00Z", 1, 1),
        ("2020-09-10T18:30:00Z", 2, 0),
    ]


def test_a_preset_week_is_seven_local_days_across_a_clock_change(app: Flask) -> None:
    with app.test_request_context():
        found, errors = parse_range({"range": "7d"}, now=datetime(2026, 3, 30, 12), zone=BERLIN)
    assert not errors and found.unit == "day"
    buckets = found.buckets()
    assert len(buckets) == 7
    assert buckets[0] == datetime(2026, 3, 23, 23)  # Tuesday 24 March, 00:00 CET
    assert buckets[-1] == datetime(2026, 3, 29, 22)  # Monday 30 March, 00:00 CEST
    assert buckets[-2] == datetime(2026, 3, 28, 23)  # the 23-hour Sunday
    assert found.end - buckets[0] == timedelta(days=6, hours=12, minutes=0) + timedelta(hours=1)
