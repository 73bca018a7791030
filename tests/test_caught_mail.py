"""Caught mail at a mail catcher's level: a count, keyset pages, a search over subject, From and
To (display names included), attachments downloaded under a safe name, delete one or all; and
the same answers at 100,000 caught messages."""

from __future__ import annotations

import re
from email.message import EmailMessage
from unicodedata import normalize
from urllib.parse import unquote

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, update

from dashboard.extensions import db
from dashboard.models import CaughtMail
from dashboard.ops.caught_mail import SHORT_WORD_WINDOW
from tests.caught_rows import caught_row, seed_caught, simple_mail

ROW = re.compile(r'<a href="/outbox/(\d+)">')


def ids_on(page: str) -> list[int]:
    return [int(found) for found in ROW.findall(page)]


def csrf_on(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def cursor(page: str, rel: str) -> str:
    match = re.search(rf'href="(/outbox/\?[^"]+)" rel="{rel}"', page)
    assert match, f"no {rel} link"
    return match.group(1).replace("&amp;", "&")


def forget(app: Flask, ids: list[int]) -> None:
    with app.app_context():
        db.session.execute(delete(CaughtMail).where(CaughtMail.id.in_(ids)))
        db.session.commit()


def test_pages_count_and_search_by_subject_from_and_to_names(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    rows = [
        caught_row(
            simple_mail(f"Đơn hàng {i} {unique}", f"Khách {i} <khach{i}-{unique}@example.vn>"),
            "shop@example.com",
            [f"khach{i}-{unique}@example.vn"],
        )
        for i in range(120)
    ]
    rows[7] = caught_row(
        simple_mail(f"Hoá đơn {unique}", f"Nguyễn Thị Ánh <anh-{unique}@example.vn>"),
        "billing@example.com",
        [f"anh-{unique}@example.vn"],
    )
    ids = seed_caught(app, rows)
    try:
        first = client.get(f"/outbox/?q={unique}")
        assert first.status_code == 200 and "HX-Request" in first.headers["Vary"]
        page = first.get_data(as_text=True)
        assert "120 of " in page and f"match “{unique}”" in page
        assert ids_on(page) == ids[::-1][:50]
        # Display names of To are shown, from the header, decoded.
        assert f"Khách 119 &lt;khach119-{unique}@example.vn&gt;" in page
        second = client.get(cursor(page, "next")).get_data(as_text=True)
        assert ids_on(second) == ids[::-1][50:100]
        third = client.get(cursor(second, "next")).get_data(as_text=True)
        assert ids_on(third) == ids[::-1][100:] and 'rel="next"' not in third
        back = client.get(cursor(third, "prev")).get_data(as_text=True)
        assert ids_on(back) == ids[::-1][50:100]

        # A name in To, lower or upper case, a From address, two words at once.
        for search in ("nguyễn thị ánh", "NGUYỄN", "billing@example", f"hoá {unique}"):
            found = client.get("/outbox/", query_string={"q": search}).get_data(as_text=True)
            assert ids_on(found) == [ids[7]], search
        assert "0 of " in client.get("/outbox/?q=%25_no-such").get_data(as_text=True)
        # LIKE's wildcards are literal: "%" finds nothing rather than everything.
        assert ids_on(client.get(f"/outbox/?q={unique}%25").get_data(as_text=True)) == []

        partial = client.get(f"/outbox/?q={unique}", headers={"HX-Request": "true"})
        assert "<html" not in partial.get_data(as_text=True)
        assert ids_on(partial.get_data(as_text=True)) == ids[::-1][:50]

        everything = client.get("/outbox/").get_data(as_text=True)
        total = int(re.search(r"([\d,]+) caught messages?\.", everything)[1].replace(",", ""))
        assert total >= 120
    finally:
        forget(app, ids)


def test_bad_paging_and_search_input_is_a_clear_422(client: FlaskClient) -> None:
    for query, text in (
        ("before=abc", "is not a page position"),
        ("q=" + "x" * 201, "at most 200 characters"),
        ("q=a%00b", "NUL"),
        ("q=" + "+".join("abcdefghi"), "at most 8 words"),
    ):
        answer = client.get(f"/outbox/?{query}")
        assert answer.status_code == 422, query
        assert text in answer.get_data(as_text=True), query


def mail_with_attachments(unique: str) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"] = "shop@example.com", f"lan-{unique}@example.vn"
    mail["Subject"] = f"Tệp {unique}"
    mail.set_content("Xem tệp đính kèm")
    mail.add_attachment("Tổng: 100.000đ".encode(), "text", "plain", filename="hoá đơn.txt")
    mail.add_attachment(b"root:x:0:0", "application", "octet-stream", filename="../../etc/passwd")
    mail.add_attachment(b"<script>alert(1)</script>", "text", "html", filename="x.html")
    # RFC 2231 lets a name carry what no header may: a quote, a semicolon, CR and LF.
    hostile = "filename*=utf-8''%22%3B%20x.html%0D%0AX%3A%20y"
    return mail.as_bytes().replace(b'filename="x.html"', hostile.encode())


def test_attachments_download_decoded_under_a_safe_name(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    [mail_id] = seed_caught(
        app, [caught_row(mail_with_attachments(unique), "shop@example.com", ["x@example.vn"])]
    )
    try:
        page = client.get(f"/outbox/{mail_id}").get_data(as_text=True)
        links = re.findall(rf'href="(/outbox/{mail_id}/attachments/\d+)" download>', page)
        assert len(links) == 3

        text = client.get(links[0])
        assert text.data == "Tổng: 100.000đ".encode()
        assert text.headers["X-Content-Type-Options"] == "nosniff"
        disposition = text.headers["Content-Disposition"]
        assert disposition.startswith("attachment; ")
        assert disposition.endswith("filename*=UTF-8''" + "ho%C3%A1%20%C4%91%C6%A1n.txt")

        passwd = client.get(links[1])
        assert passwd.data == b"root:x:0:0"
        assert passwd.headers["Content-Disposition"] == (
            "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"
        )

        hostile = client.get(links[2])
        assert hostile.data == b"<script>alert(1)</script>"
        assert hostile.mimetype == "application/octet-stream"  # never rendered as a page
        assert "sandbox" in hostile.headers["Content-Security-Policy"]
        disposition = hostile.headers["Content-Disposition"]
        assert "\r" not in disposition and "\n" not in disposition
        assert "X" not in hostile.headers
        # One quoted fallback and one encoded name, nothing else: no quote broke out.
        match = re.fullmatch(
            r"attachment; filename=\"([^\"]*)\"; filename\*=UTF-8''(\S+)", disposition
        )
        assert match, disposition
        assert match[1] == "__ x.html__X: y"
        assert unquote(match[2]) == "_; x.html__X: y"

        assert client.get(f"/outbox/{mail_id}/attachments/3").status_code == 404
    finally:
        forget(app, [mail_id])


def test_delete_one_then_all_with_csrf_a_confirmation_and_a_message(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    ids = seed_caught(
        app,
        [
            caught_row(
                simple_mail(f"Xoá {i} {unique}", "a@example.vn"), "s@example.com", ["a@x.vn"]
            )
            for i in range(3)
        ],
    )
    detail = client.get(f"/outbox/{ids[0]}").get_data(as_text=True)
    assert '<details class="confirm" id="delete-one">' in detail  # a second step before it acts
    assert client.post(f"/outbox/{ids[0]}/delete").status_code == 400  # no CSRF token
    assert client.get(f"/outbox/{ids[0]}").status_code == 200
    deleted = client.post(f"/outbox/{ids[0]}/delete", data={"csrf_token": csrf_on(detail)})
    assert deleted.status_code == 303
    assert client.get(f"/outbox/{ids[0]}").status_code == 404
    listing = client.get(f"/outbox/?q={unique}").get_data(as_text=True)
    assert "The caught message was deleted." in listing
    assert ids_on(listing) == ids[:0:-1]

    assert '<details class="confirm" id="delete-all">' in listing
    assert client.post("/outbox/delete-all").status_code == 400
    everything = client.post("/outbox/delete-all", data={"csrf_token": csrf_on(listing)})
    assert everything.status_code == 303
    after = client.get("/outbox/").get_data(as_text=True)
    assert re.search(r"[\d,]+ caught message\(s\) deleted\.", after)
    assert "0 caught messages." in after and "Nothing caught yet." in after
    assert client.get(f"/outbox/{ids[2]}").status_code == 404


def test_the_list_answers_right_at_100000_caught_messages(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    raw = simple_mail(f"Khuyến mãi {unique}", "Khách <k@example.vn>")
    template = caught_row(raw, "shop@example.com", ["k@example.vn"])
    rows = [
        {
            **template,
            "subject": f"Khuyến mãi {i} {unique}",
            "to_header": f"Khách {i} <k{i}-{unique}@example.vn>",
            "search_text": (
                f"khuyến mãi {i} {unique}\nshop@example.com\nkhách {i} <k{i}-{unique}@example.vn>"
            ),
        }
        for i in range(100_000)
    ]
    ids = seed_caught(app, rows, chunk=10_000)
    try:
        assert len(ids) == 100_000
        first = client.get(f"/outbox/?q={unique}").get_data(as_text=True)
        # Counting 100,000 matches is what made the search slow: past 10,000 the page says so.
        assert "More than 10,000 of " in first and ids_on(first) == ids[::-1][:50]
        deep = client.get(f"/outbox/?q={unique}&before={ids[40_000]}").get_data(as_text=True)
        assert ids_on(deep) == ids[39_999:39_949:-1]
        found = client.get(f"/outbox/?q=k77777-{unique}@").get_data(as_text=True)
        assert ids_on(found) == [ids[77_777]] and "1 of " in found
    finally:
        with app.app_context():
            db.session.execute(delete(CaughtMail).where(CaughtMail.id >= ids[0]))
            db.session.commit()


def test_vietnamese_is_found_in_any_case_and_composition_with_its_marks_as_typed(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    ids = seed_caught(
        app,
        [
            caught_row(simple_mail(f"Hoá đơn tháng 12 {unique}", "a@x.vn"), "s@x.vn", ["a@x.vn"]),
            caught_row(simple_mail(f"Hóa đơn cũ {unique}", "b@x.vn"), "s@x.vn", ["b@x.vn"]),
            caught_row(simple_mail(f"Hoa don {unique}", "c@x.vn"), "s@x.vn", ["c@x.vn"]),
            # A header written decomposed (a mark as its own code point), as some clients do.
            caught_row(
                simple_mail(normalize("NFD", f"ĐƠN HÀNG {unique}"), "Lê Văn Đức <d@example.vn>"),
                "s@x.vn",
                ["d@x.vn"],
            ),
        ],
    )
    hoa_don, hoa_don_old, plain, order = ids
    try:
        for search, expected in (
            (f"hoá đơn {unique}", [hoa_don]),  # the marks as typed: not "Hóa" nor "Hoa"
            (f"HOÁ ĐƠN {unique}", [hoa_don]),
            (f"hóa {unique}", [hoa_don_old]),
            (f"hoa don {unique}", [plain]),
            (f"đơn {unique}", [order, hoa_don_old, hoa_don]),
            (normalize("NFD", f"ĐỨC {unique}"), [order]),  # typed decomposed
            (f"lê văn {unique}", [order]),  # a display name in To
            (f"cũ {unique}", [hoa_don_old]),  # shorter than the index's three characters
            (f"Đ {unique}", [order, hoa_don_old, hoa_don]),
            (f'"{unique}', []),  # a quote is a character like any other
        ):
            page = client.get("/outbox/", query_string={"q": search}).get_data(as_text=True)
            assert ids_on(page) == expected, search
            assert f"{len(expected)} of " in page, search
    finally:
        forget(app, ids)


def test_a_caught_message_changed_or_deleted_is_searched_as_it_is_now(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    [mail_id] = seed_caught(
        app, [caught_row(simple_mail(f"Cũ {unique}", "a@example.vn"), "s@x.vn", ["a@x.vn"])]
    )
    with app.app_context():
        db.session.execute(
            update(CaughtMail).where(CaughtMail.id == mail_id).values(search_text=f"mới {unique}")
        )
        db.session.commit()
    assert ids_on(client.get(f"/outbox/?q=cũ {unique}").get_data(as_text=True)) == []
    assert ids_on(client.get(f"/outbox/?q=mới {unique}").get_data(as_text=True)) == [mail_id]
    forget(app, [mail_id])
    assert ids_on(client.get(f"/outbox/?q=mới {unique}").get_data(as_text=True)) == []


def test_a_word_of_one_or_two_letters_reads_only_the_newest_ten_thousand(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    """The index needs three characters: a shorter word is read row by row, so among the
    newest SHORT_WORD_WINDOW candidates only, and the page says so."""
    raw = simple_mail(f"Đơn {unique}", "Khách <k@example.vn>")
    template = caught_row(raw, "shop@example.com", ["k@example.vn"])

    def row(i: int, words: str) -> dict[str, object]:
        return {**template, "subject": f"Đơn {i}", "search_text": f"đơn {i} {unique} {words}"}

    count = SHORT_WORD_WINDOW + 2_000
    rows = [row(i, "") for i in range(count)]
    rows[5] = row(5, f"qz xq-old-{unique}")  # old: past the newest 10,000
    rows[count - 10] = row(count - 10, "qz")  # new
    ids = seed_caught(app, rows, chunk=10_000)
    try:
        page = client.get("/outbox/?q=qz").get_data(as_text=True)
        assert ids_on(page) == [ids[count - 10]]
        assert 'id="outbox-window"' in page and "newest 10,000 messages" in page
        # A longer word that few messages hold bounds the reading itself: then all are searched.
        old = client.get(f"/outbox/?q=qz+xq-old-{unique}").get_data(as_text=True)
        assert ids_on(old) == [ids[5]] and 'id="outbox-window"' not in old
        # A longer word that every message holds: its newest 10,000 only, and said so.
        common = client.get(f"/outbox/?q={unique}+qz").get_data(as_text=True)
        assert ids_on(common) == [ids[count - 10]] and 'id="outbox-window"' in common
        # Without a short word nothing is cut.
        assert 'id="outbox-window"' not in client.get(f"/outbox/?q={unique}").get_data(as_text=True)
        vietnamese = client.get("/outbox/?q=qz", headers={"Accept-Language": "vi"})
        assert "10.000" in vietnamese.get_data(as_text=True)
    finally:
        with app.app_context():
            db.session.execute(delete(CaughtMail).where(CaughtMail.id >= ids[0]))
            db.session.commit()
