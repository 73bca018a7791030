"""The list of campaigns, on the Campaigns page and as `GET /api/v1/campaigns`: newest first, a
page at a time by `before`/`after`, each campaign's own page's word for where it is (an import
still running is "importing", not "sent"), a sender's own campaigns only, and bad paging
refused with every problem named."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from dashboard.extensions import db
from dashboard.models import Campaign, CsvImport, ImportStatus, utcnow
from tests.auth_helpers import PASSWORD, Person, make_user, sign_in
from tests.history_rows import link, seed_campaign


def bearer(person: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.token}"}


def owned_campaigns(app: Flask, owner: Person, unique: str) -> list[int]:
    """Five campaigns of `owner`, oldest first: sent, failed, partly sent, importing and one
    whose import failed (no rows yet in either)."""
    rows = [
        [{"to_address": f"a-{unique}@example.vn", "status": "sent"}],
        [{"to_address": f"b-{unique}@example.vn", "status": "failed"}],
        [
            {"to_address": f"c-{unique}@example.vn", "status": "sent"},
            {"to_address": f"d-{unique}@example.vn", "status": "failed"},
        ],
        [],
        [],
    ]
    ids = [
        seed_campaign(app, messages, subject=f"Bản tin số {n} {unique}")[0]
        for n, messages in enumerate(rows)
    ]
    with app.app_context():
        db.session.execute(update(Campaign).where(Campaign.id.in_(ids)).values(owner_id=owner.id))
        for campaign_id, status in (
            (ids[3], ImportStatus.IMPORTING),
            (ids[4], ImportStatus.FAILED),
        ):
            db.session.add(
                CsvImport(
                    campaign_id=campaign_id,
                    filename="khach-hang.csv",
                    encoding="utf-8",
                    delimiter=",",
                    status=status,
                    started_at=utcnow(),
                    error="the file is not CSV" if status == ImportStatus.FAILED else None,
                )
            )
        db.session.commit()
    return ids


def relative(url: str) -> str:
    """The path and query of an absolute URL the API gave, for the test client."""
    return urlsplit(url)._replace(scheme="", netloc="").geturl()


def every_page(client: FlaskClient, person: Person, url: str) -> list[list[dict]]:
    """Each page of the list from `url`, following `older` (at most 50 pages)."""
    pages = []
    for _ in range(50):
        answer = client.get(url, headers=bearer(person))
        assert answer.status_code == 200, answer.json
        pages.append(answer.json["campaigns"])
        if answer.json["older"] is None:
            return pages
        url = relative(answer.json["older"])
    raise AssertionError("more than 50 pages")


def test_the_api_lists_a_senders_own_campaigns_newest_first_a_page_at_a_time(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    owner = make_user(app, f"owner-{unique}@example.vn")
    other = make_user(app, f"other-{unique}@example.vn")
    ids = owned_campaigns(app, owner, unique)
    others = owned_campaigns(app, other, f"x{unique}")

    pages = every_page(client, owner, "/api/v1/campaigns?limit=2")
    assert [len(page) for page in pages] == [2, 2, 1]
    listed = [campaign for page in pages for campaign in page]
    assert [c["id"] for c in listed] == ids[::-1]  # only theirs, newest first, each once
    by_id = {c["id"]: c for c in listed}
    assert [by_id[i]["status"] for i in ids] == [
        "sent",
        "failed",
        "partly sent",
        "importing",
        "import failed",
    ]
    partly = by_id[ids[2]]
    assert (
        partly["total"] == 2 and partly["counts"]["sent"] == 1 and partly["counts"]["failed"] == 1
    )
    assert partly["percent"] == 100 and partly["source"] == "api"
    assert partly["subject"] == f"Bản tin số 2 {unique}"
    assert partly["status_url"].endswith(f"/api/v1/campaigns/{ids[2]}")
    assert client.get(partly["status_url"], headers=bearer(owner)).json["status"] == "partly sent"

    # The second page's `newer` leads back to the first page.
    second = client.get(f"/api/v1/campaigns?limit=2&before={ids[3]}", headers=bearer(owner)).json
    assert [c["id"] for c in second["campaigns"]] == [ids[2], ids[1]]
    back = client.get(relative(second["newer"]), headers=bearer(owner)).json
    assert [c["id"] for c in back["campaigns"]] == [ids[4], ids[3]]
    assert back["newer"] is None and "limit=2" in back["older"]

    # Past the oldest (a cursor typed by hand): nothing, and the way back to the oldest page.
    past = client.get(f"/api/v1/campaigns?limit=2&before={ids[0]}", headers=bearer(owner)).json
    assert past["campaigns"] == [] and past["older"] is None, past
    assert past["newer"], past
    oldest = client.get(relative(past["newer"]), headers=bearer(owner)).json
    assert [c["id"] for c in oldest["campaigns"]] == [ids[1], ids[0]]

    # An admin (and a viewer) reads every campaign: the other sender's are there too.
    viewer = make_user(app, f"viewer-{unique}@example.vn", role="viewer")
    newest = client.get("/api/v1/campaigns?limit=200", headers=bearer(viewer)).json["campaigns"]
    seen = [c["id"] for c in newest]
    assert set(ids) | set(others) <= set(seen)
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("limit=0", {"limit"}),
        ("limit=201", {"limit"}),
        ("limit=dix", {"limit"}),
        ("before=abc&after=-1", {"before", "after"}),
        ("before=5&after=3", {"after"}),
        ("befor=5&limit=x", {"befor", "limit"}),
        ("after=9999999999&before=2147483648", {"before", "after"}),  # past any row id
        ("before=&after=%20&limit=", {"before", "after", "limit"}),  # a value left out
    ],
)
def test_bad_paging_is_refused_with_every_problem_named(
    app: Flask, client: FlaskClient, unique: str, query: str, fields: set[str]
) -> None:
    person = make_user(app, f"pager-{unique}@example.vn")
    answer = client.get(f"/api/v1/campaigns?{query}", headers=bearer(person))
    assert answer.status_code == 422
    assert set(answer.json["error"]["fields"]) == fields
    for name in fields:
        assert name in answer.json["error"]["message"]


def test_the_campaigns_page_pages_back_in_time_and_says_importing(app: Flask, unique: str) -> None:
    owner = make_user(app, f"pages-{unique}@example.vn")
    # 50 older ones first, so that the page of 50 ends before the oldest of them.
    older_ids = [seed_campaign(app, [], subject=f"Cũ {n} {unique}")[0] for n in range(50)]
    with app.app_context():
        db.session.execute(
            update(Campaign).where(Campaign.id.in_(older_ids)).values(owner_id=owner.id)
        )
        db.session.commit()
    ids = owned_campaigns(app, owner, unique)
    browser = FlaskClient(app, app.response_class)  # not the test admin's: the owner's own
    assert sign_in(browser, owner.email, PASSWORD).status_code == 302

    first = browser.get("/campaigns/")
    page = first.get_data(as_text=True)
    assert first.status_code == 200
    shown = [int(n) for n in re.findall(r'href="/campaigns/(\d+)">#', page)]
    assert shown == sorted([*ids, *older_ids], reverse=True)[:50]
    assert link(page, "newer") is None
    row = page[page.index(f'href="/campaigns/{ids[3]}"') :].split("</tr>")[0]
    assert "importing" in row and "status-importing" in row
    row = page[page.index(f'href="/campaigns/{ids[4]}"') :].split("</tr>")[0]
    assert "status-import-failed" in row

    second = browser.get(link(page, "older"))
    page = second.get_data(as_text=True)
    shown = [int(n) for n in re.findall(r'href="/campaigns/(\d+)">#', page)]
    assert shown == sorted(older_ids, reverse=True)[45:]
    assert link(page, "older") is None and link(page, "newest") == "/campaigns/"
    assert link(page, "newer") is not None

    bad = browser.get("/campaigns/?before=1x", headers={"Accept-Language": "vi"})
    assert bad.status_code == 422
    assert "&#39;1x&#39; không phải là vị trí trang" in bad.get_data(as_text=True)
    shown = [int(n) for n in re.findall(r'href="/campaigns/(\d+)">#', bad.get_data(as_text=True))]
    assert shown == sorted([*ids, *older_ids], reverse=True)[:50]  # the newest page, still


@pytest.mark.parametrize("path", ["/campaigns/", "/history/", "/outbox/", "/audit/"])
def test_every_list_page_refuses_a_position_past_any_row_id(client: FlaskClient, path: str) -> None:
    """Ids are 32-bit in PostgreSQL: a larger one must be refused, not fail the query (a 500)."""
    answer = client.get(f"{path}?before=9999999999")
    assert answer.status_code == 422
    assert "&#39;9999999999&#39; is not a page position" in answer.get_data(as_text=True)


def test_the_list_polls_itself_while_a_campaign_in_it_can_change(app: Flask, unique: str) -> None:
    owner = make_user(app, f"live-{unique}@example.vn")
    browser = FlaskClient(app, app.response_class)
    assert sign_in(browser, owner.email, PASSWORD).status_code == 302
    [done] = [seed_campaign(app, [{"to_address": f"a-{unique}@example.vn", "status": "sent"}])[0]]
    with app.app_context():
        db.session.execute(update(Campaign).where(Campaign.id == done).values(owner_id=owner.id))
        db.session.commit()

    final = browser.get("/campaigns/").get_data(as_text=True)
    assert 'data-final="true"' in final and "hx-trigger" not in final

    owned_campaigns(app, owner, unique)  # one of them still importing
    live = browser.get("/campaigns/").get_data(as_text=True)
    assert 'data-final="false"' in live and 'hx-trigger="every 3s"' in live
    assert 'hx-get="/campaigns/?"' in live

    polled = browser.get("/campaigns/", headers={"HX-Request": "true"})
    part = polled.get_data(as_text=True)
    assert polled.status_code == 200 and "<html" not in part
    assert part.lstrip().startswith('<section id="campaign-list"')
    assert part.count('href="/campaigns/') >= 6 and "status-importing" in part


# Superscript two, Arabic-Indic twelve, mathematical one: str.isdigit() says yes to each.
@pytest.mark.parametrize("digits", ["\u00b2", "\u0661\u0662", "\U0001d7d9"])
def test_digits_of_other_scripts_are_refused_not_a_500(
    app: Flask, client: FlaskClient, unique: str, digits: str
) -> None:
    for path in ("/campaigns/", "/history/", "/outbox/", "/audit/"):
        answer = client.get(path, query_string={"before": digits})
        assert answer.status_code == 422, path
        assert "is not a page position" in answer.get_data(as_text=True), path
    filters = client.get("/history/", query_string={"campaign": digits, "code": digits})
    assert filters.status_code == 422
    assert "is not a campaign number" in filters.get_data(as_text=True)
    assert "is not an SMTP code" in filters.get_data(as_text=True)
    person = make_user(app, f"digits-{unique}@example.vn")
    for query in ({"before": digits}, {"limit": digits}):
        answer = client.get("/api/v1/campaigns", query_string=query, headers=bearer(person))
        assert answer.status_code == 422
        assert set(answer.json["error"]["fields"]) == set(query)
    assert client.get("/api/v1/audit", query_string={"before": digits}).status_code == 422
