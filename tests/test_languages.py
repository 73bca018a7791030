"""Which language and time zone a person's pages speak: their own setting, else the browser's
Accept-Language, else English; the header's switch; dates and numbers written for the language,
times in the person's own zone with its name."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

from flask import Flask
from flask.testing import FlaskClient

from dashboard.extensions import db
from dashboard.models import Campaign, User
from dashboard.ops.local_stack import process_env
from dashboard.sending.unsubscribe_links import unsubscribe_serializer, unsubscribe_url
from tests.auth_helpers import PASSWORD, form_csrf, make_user, sign_in
from tests.conftest import ROOT

VIETNAMESE = {"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"}


def signed_in(app: Flask, unique: str) -> tuple[FlaskClient, int]:
    person = make_user(app, f"lang-{unique}@example.com", role="admin")
    client = FlaskClient(app, app.response_class, use_cookies=True)
    assert sign_in(client, person.email, PASSWORD).status_code == 302
    return client, person.id


def test_english_without_a_choice_and_vietnamese_when_the_browser_asks(
    anonymous_client: FlaskClient,
) -> None:
    english = anonymous_client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in english and "<h1>Sign in</h1>" in english
    page = anonymous_client.get("/login", headers=VIETNAMESE).get_data(as_text=True)
    assert '<html lang="vi">' in page
    assert "<h1>Đăng nhập</h1>" in page and "Mật khẩu" in page
    assert "Sign in" not in page
    # A language the dashboard does not speak falls back to English.
    french = anonymous_client.get("/login", headers={"Accept-Language": "fr-FR"})
    assert "<h1>Sign in</h1>" in french.get_data(as_text=True)


def test_the_header_switch_keeps_a_signed_out_choice_in_a_cookie(
    anonymous_client: FlaskClient,
) -> None:
    csrf = form_csrf(anonymous_client, "/login")
    response = anonymous_client.post(
        "/language", data={"csrf_token": csrf, "language": "vi", "next": "/login?next=/history/"}
    )
    assert response.status_code == 302 and response.location.endswith("/login?next=/history/")
    assert "<h1>Đăng nhập</h1>" in anonymous_client.get("/login").get_data(as_text=True)
    # A foreign `next` is not followed; an unknown language changes nothing.
    response = anonymous_client.post(
        "/language", data={"csrf_token": csrf, "language": "xx", "next": "https://evil.example/"}
    )
    assert response.location.endswith("/login")
    assert "<h1>Đăng nhập</h1>" in anonymous_client.get("/login").get_data(as_text=True)
    # Without CSRF the switch is refused like any other form.
    assert anonymous_client.post("/language", data={"language": "en"}).status_code == 400


def test_a_person_s_own_setting_wins_over_the_browser_and_sets_their_zone(
    app: Flask, unique: str
) -> None:
    client, user_id = signed_in(app, unique)
    page = client.get("/account/settings").get_data(as_text=True)
    assert "<h1>Your settings</h1>" in page and "Asia/Ho_Chi_Minh" in page
    refused = client.post(
        "/account/settings",
        data={"csrf_token": form_csrf(client, "/account/settings"), "language": "xx",
              "timezone": "Mars/Base"},
    )  # fmt: skip
    assert refused.status_code == 422
    saved = client.post(
        "/account/settings",
        data={"csrf_token": form_csrf(client, "/account/settings"), "language": "vi",
              "timezone": "Asia/Ho_Chi_Minh"},
    )  # fmt: skip
    assert saved.status_code == 302
    with app.app_context():
        user = db.session.get(User, user_id)
        assert (user.language, user.timezone) == ("vi", "Asia/Ho_Chi_Minh")
        campaign = Campaign(
            subject=f"lang {unique}", from_address="a@example.com", source="test", text_body="t",
            created_at=datetime(2026, 12, 1, 2, 30, 5),
        )  # fmt: skip
        db.session.add(campaign)
        db.session.commit()
        campaign_id = campaign.id
    # An English-speaking browser still gets the person's Vietnamese.
    page = client.get("/campaigns/", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert "<h1>Chiến dịch</h1>" in page and "Lịch sử" in page and "Thống kê" in page
    assert "Ngày tạo (Asia/Ho_Chi_Minh)" in page
    # 02:30 UTC is 09:30 in Ho Chi Minh City, written day first.
    detail = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "tạo lúc 01/12/2026 09:30:05 (Asia/Ho_Chi_Minh)" in detail
    # The header's switch, signed in, changes the saved setting too.
    client.post(
        "/language",
        data={"csrf_token": form_csrf(client, "/campaigns/"), "language": "en", "next": "/"},
    )
    with app.app_context():
        assert db.session.get(User, user_id).language == "en"
    detail = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "created 2026-12-01 09:30:05 (Asia/Ho_Chi_Minh)" in detail


def test_numbers_and_dates_are_written_for_the_language(app: Flask) -> None:
    from flask_babel import force_locale

    from dashboard.web.formatting import number, percent, when

    moment = datetime(2026, 12, 1, 9, 30)
    with app.test_request_context("/"):
        assert (number(1234), percent(0.953), when(moment)) == (
            "1,234",
            "95.3%",
            "2026-12-01 09:30:00",
        )
        with force_locale("vi"):
            assert number(1234) == "1.234" and number(1234.5, 1) == "1.234,5"
            assert percent(0.953) == "95,3%"
            assert when(moment, "date") == "01/12/2026"


def test_the_unsubscribe_pages_speak_the_recipient_s_language(
    app: Flask, anonymous_client: FlaskClient, unique: str
) -> None:
    signer = unsubscribe_serializer(app.config["SECRET_KEY"])
    link = unsubscribe_url("", signer, f"nhan-{unique}@example.vn", 1)
    page = anonymous_client.get(link, headers=VIETNAMESE)
    body = page.get_data(as_text=True)
    assert '<html lang="vi">' in body and "<h1>Hủy đăng ký</h1>" in body
    assert f"Ngừng gửi mọi thư tới <strong>nhan-{unique}@example.vn</strong>?" in body
    done = anonymous_client.post(link, headers=VIETNAMESE)
    assert "sẽ không nhận thêm thư nào từ chúng tôi." in done.get_data(as_text=True)
    bad = anonymous_client.get("/unsubscribe/not-a-token", headers=VIETNAMESE)
    assert bad.status_code == 404
    assert "Đường dẫn hủy đăng ký không hợp lệ" in bad.get_data(as_text=True)


def test_the_cli_speaks_the_shell_s_language(
    stack_settings: dict[str, str], migrated_database: str
) -> None:
    def revoke(language: str) -> subprocess.CompletedProcess[str]:
        env = {**process_env(stack_settings), "LANG": language, "LANGUAGE": "", "LC_ALL": ""}
        return subprocess.run(
            [sys.executable, "-m", "flask", "tokens", "revoke", "999999"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    english, vietnamese = revoke("C.UTF-8"), revoke("vi_VN.UTF-8")
    assert english.returncode == 2 and "there is no token 999999" in english.stderr
    assert vietnamese.returncode == 2 and "không có token 999999" in vietnamese.stderr
