"""The history page: filters that combine, keyset pages that hold while rows arrive, HTMX swaps,
and input that is refused with a reason instead of a crash."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from tests.history_rows import link, seed_campaign, shown_ids

DAY = datetime(2021, 3, 10, 9, 0)


def test_filters_combine_to_exactly_the_matching_messages(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    def row(name: str, status: str, day: int, code: int | None = None) -> dict:
        return {
            "to_address": f"{name}-{unique}@{'example.vn' if code != 421 else 'mail.example.com'}",
            "status": status,
            "last_code": code,
            "created_at": DAY + timedelta(days=day),
            "updated_at": DAY + timedelta(days=day, minutes=5),
        }

    news, news_ids = seed_campaign(
        app,
        [
            row("an", "sent", 0, 250),
            row("binh", "failed", 0, 550),
            row("chi", "failed", 1, 550),
            row("dung", "failed", 2, 421),
            # Scheduled with no time: neither the dispatcher nor the sweeper will ever send it.
            row("an.nguyen", "scheduled", 2),
        ],
        subject=f"Bản tin {unique}",
    )
    other, other_ids = seed_campaign(
        app,
        [row("an", "failed", 1, 550), row("em", "sent", 1, 250)],
        subject=f"Hoá đơn {unique}",
    )

    def ids(**args: str) -> list[int]:
        response = client.get("/history/", query_string=args)
        assert response.status_code == 200, response.get_data(as_text=True)
        return shown_ids(response.get_data(as_text=True))

    # Newest first: the higher id is the newer message.
    assert ids(campaign=str(news)) == sorted(news_ids, reverse=True)
    assert ids(campaign=str(news), status="failed") == [news_ids[3], news_ids[2], news_ids[1]]
    assert ids(status="failed", recipient=f"an-{unique}") == [other_ids[0]]
    assert ids(recipient=f"AN-{unique.upper()}") == [other_ids[0], news_ids[0]]  # any case
    assert ids(recipient="an") != []  # a prefix finds every address starting with it
    assert set(ids(recipient=f"an.nguyen-{unique}")) == {news_ids[4]}
    assert ids(subject=f"hoá đơn {unique}") == sorted(other_ids, reverse=True)
    assert ids(subject=unique, status="sent") == [other_ids[1], news_ids[0]]
    assert ids(subject=unique, since="2021-03-11", until="2021-03-11") == [
        other_ids[1],
        other_ids[0],
        news_ids[2],
    ]
    assert ids(subject=unique, since="2021-03-12") == [news_ids[4], news_ids[3]]
    assert ids(subject=unique, status="failed", code="550", domain="example.vn") == [
        other_ids[0],
        news_ids[2],
        news_ids[1],
    ]
    assert ids(subject=unique, domain="@MAIL.example.com") == [news_ids[3]]
    assert ids(subject=unique, status="failed", code="550", campaign=str(other)) == [other_ids[0]]
    assert ids(subject=f"{unique}%") == []  # wildcards are searched as text


def test_keyset_pages_never_skip_or_repeat_while_new_rows_arrive(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    campaign, original = seed_campaign(
        app, [{"to_address": f"p{i}-{unique}@example.vn", "status": "sent"} for i in range(130)]
    )
    seen: list[int] = []
    url: str | None = f"/history/?campaign={campaign}"
    pages = 0
    arrived: list[int] = []
    page: list[int] = []
    html = ""
    while url and pages < 10:
        html = client.get(url).get_data(as_text=True)
        page = shown_ids(html)
        assert len(page) <= 50
        seen += page
        pages += 1
        # Rows arrive between one page and the next, as they do while a campaign is sent.
        arrived += add_messages(app, campaign, unique, count=7, round_=pages)
        url = link(html, "older")
    assert pages == 3
    assert len(seen) == len(set(seen)) == len(original)  # none repeated
    assert set(seen) == set(original)  # none skipped, none of the new ones mixed in
    assert seen == sorted(seen, reverse=True)

    # Walking back towards the newest reaches the rows that arrived, each once.
    back: list[int] = []
    url = link(html, "newer")  # from the last page
    steps = 0
    while url and steps < 10:
        html = client.get(url).get_data(as_text=True)
        back += shown_ids(html)
        url = link(html, "newer")
        steps += 1
    assert len(back) == len(set(back))
    assert set(back) == set(original + arrived) - set(page)


def add_messages(
    app: Flask, campaign_id: int, unique: str, *, count: int, round_: int
) -> list[int]:
    from dashboard.extensions import db
    from dashboard.models import Message

    with app.app_context():
        messages = [
            Message(
                campaign_id=campaign_id,
                to_address=f"new{round_}-{i}-{unique}@example.vn",
                status="sent",  # a final state: the session's sweeper must not send it for real
                message_id_header=f"<new{round_}-{i}-{unique}@example.com>",
            )
            for i in range(count)
        ]
        db.session.add_all(messages)
        db.session.commit()
        return [m.id for m in messages]


def test_htmx_gets_the_table_alone_and_the_url_keeps_the_filters(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    campaign, ids = seed_campaign(app, [{"to_address": f"x-{unique}@example.vn", "status": "sent"}])
    full = client.get(f"/history/?campaign={campaign}").get_data(as_text=True)
    assert "<html" in full and 'hx-push-url="true"' in full and 'id="history-filters"' in full
    assert f'value="{campaign}"' in full  # the filter shows what is applied
    fragment = client.get(f"/history/?campaign={campaign}", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert "<html" not in html
    assert 'id="history-results"' in html and shown_ids(html) == ids
    assert f"/history/export.csv?campaign={campaign}" in html
    assert "HX-Request" in fragment.headers["Vary"]
    # htmx restoring a page from history needs the whole page.
    restored = client.get(
        f"/history/?campaign={campaign}",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restored.get_data(as_text=True)


def test_bad_filters_are_refused_with_a_reason_by_field(client: FlaskClient) -> None:
    response = client.get(
        "/history/",
        query_string={
            "status": "exploded",
            "campaign": "abc",
            "since": "2026-13-01",
            "code": "5xx",
            "before": "-1; DROP TABLE message",
            "recipient": "a" * 400,
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "&#39;exploded&#39; is not a status; use one of draft, scheduled, queued" in html
    assert "&#39;abc&#39; is not a campaign number" in html
    assert "is not a date like 2026-11-25" in html
    assert "is not an SMTP code like 550" in html
    assert "is not a page position" in html
    assert "at most 320 characters" in html
    reversed_range = client.get("/history/?since=2026-02-01&until=2026-01-01")
    assert reversed_range.status_code == 422
    assert "the end of the range comes before its start" in reversed_range.get_data(as_text=True)
    export = client.get("/history/export.csv?status=nope")
    assert export.status_code == 422 and "Content-Disposition" not in export.headers
    assert "The export was not made: status:" in export.get_data(as_text=True)
