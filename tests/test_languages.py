"""Which language and time zone a person's pages speak: their own setting, else the browser's
Accept-Language, else English; the header's switch; dates and numbers written for the language,
times in the person's own zone with its name."""

from __future__ import annotations

import html
import io
import re
import subprocess
import sys
from datetime import datetime

import pytest
from flask import Flask
from flask.cli import routes_command, run_command, shell_command
from flask.testing import FlaskClient
from flask_migrate.cli import db as migrations
from markupsafe import escape

from dashboard.auth.accounts import set_role
from dashboard.extensions import db
from dashboard.mail.sentences import english
from dashboard.models import Campaign, Message, MessageStatus, SuppressionReason, User
from dashboard.ops.local_stack import process_env
from dashboard.sending.cli_language import LIBRARY_WORDS, english_help
from dashboard.sending.holds import pause_campaign
from dashboard.sending.requests import EmailRequest
from dashboard.sending.stored_texts import ACCOUNT_PROBLEM, PAUSED_FOR_FAILURES, UNREACHABLE
from dashboard.sending.submission import submit_email
from dashboard.sending.suppression import suppress
from dashboard.sending.unsubscribe_links import unsubscribe_serializer, unsubscribe_url
from tests.auth_helpers import PASSWORD, form_csrf, make_user, sign_in
from tests.conftest import ROOT
from tests.csv_campaign_helpers import imported, upload

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


# Letters only Vietnamese writes: an answer holding none of them was not translated.
_VIETNAMESE_LETTERS = set("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")


def is_vietnamese(text: str) -> bool:
    return bool(_VIETNAMESE_LETTERS & set(text.lower()))


# Every field of POST /api/v1/emails wrong at once, each in its own way.
_EVERY_FIELD_WRONG = {
    "to": ["a@example.com", "not an address"],
    "subject": "Hi\r\nBcc: victim@example.com",
    "text": 5,
    "html": ["no"],
    "from": "no good",
    "account": "x" * 65,
    "send_at": 12,
    "attachments": [{"filename": "a.txt"}],
    "body": "typo",
}


def test_an_api_error_speaks_the_requester_s_language_for_every_field(
    app: Flask, unique: str
) -> None:
    person = make_user(app, f"api-lang-{unique}@example.com")
    client = FlaskClient(app, app.response_class)
    token = {"Authorization": f"Bearer {person.token}"}
    english = client.post("/api/v1/emails", json=_EVERY_FIELD_WRONG, headers=token)
    answer = client.post("/api/v1/emails", json=_EVERY_FIELD_WRONG, headers={**token, **VIETNAMESE})
    assert english.status_code == answer.status_code == 422
    fields = answer.json["error"]["fields"]
    assert set(fields) == set(english.json["error"]["fields"])
    assert {"to", "subject", "text", "html", "from", "account", "send_at", "body"} <= set(fields)
    assert "attachments.0.content_base64" in fields
    for name, message in fields.items():
        assert is_vietnamese(message), (name, message)
        assert not is_vietnamese(english.json["error"]["fields"][name]), name
    assert answer.json["error"]["message"].startswith("Email không được nhận")
    # Without Accept-Language, the token owner's own setting decides.
    with app.app_context():
        db.session.get(User, person.id).language = "vi"
        db.session.commit()
    owner = client.post("/api/v1/emails", json={"to": "a@example.com"}, headers=token)
    assert owner.status_code == 422 and is_vietnamese(owner.json["error"]["fields"]["subject"])
    # The other refusals too: not JSON, no such campaign, no token.
    not_json = client.post("/api/v1/emails", data="x", headers={**token, **VIETNAMESE})
    assert not_json.status_code == 415 and is_vietnamese(not_json.json["error"]["message"])
    missing = client.get("/api/v1/campaigns/999999999", headers={**token, **VIETNAMESE})
    assert missing.status_code == 404 and is_vietnamese(missing.json["error"]["message"])
    anonymous = client.get("/api/v1/stats", headers=VIETNAMESE)
    assert anonymous.status_code == 401 and is_vietnamese(anonymous.json["error"]["message"])
    wrong_method = client.delete("/api/v1/emails", headers={**token, **VIETNAMESE})
    assert wrong_method.status_code == 405 and is_vietnamese(wrong_method.json["error"]["message"])


def test_the_cli_help_and_usage_errors_speak_the_shell_s_language(
    stack_settings: dict[str, str], migrated_database: str
) -> None:
    def flask(language: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**process_env(stack_settings), "LANG": language, "LANGUAGE": "", "LC_ALL": ""}
        return subprocess.run(
            [sys.executable, "-m", "flask", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    english, vietnamese = (
        flask("C.UTF-8", "send-test", "--help"),
        flask("vi_VN.UTF-8", "send-test", "--help"),
    )
    assert english.returncode == vietnamese.returncode == 0
    assert "Usage:" in english.stdout and "Recipient(s), comma separated" in english.stdout
    for words in ("Cách dùng:", "Tùy chọn:", "Xếp hàng một email thử", "Người nhận, cách nhau",
                  "Hiện hướng dẫn này rồi thoát.", "[bắt buộc]", "mặc định: 60.0"):  # fmt: skip
        assert words in vietnamese.stdout, words
    assert "Recipient(s)" not in vietnamese.stdout and "Options:" not in vietnamese.stdout
    listing = flask("vi_VN.UTF-8", "--help").stdout
    assert "Lệnh:" in listing and "Tạo, liệt kê và thu hồi token API." in listing
    mistaken = flask("vi_VN.UTF-8", "users", "add")
    assert mistaken.returncode == 2 and "Lỗi: Thiếu đối số 'EMAIL'." in mistaken.stderr
    roles = flask("vi_VN.UTF-8", "users", "add", "--help").stdout
    assert "Những việc người dùng được phép làm." in roles and "Nếu không nhập" in roles


def test_a_campaign_file_s_row_errors_are_shown_in_the_reader_s_language(
    client: FlaskClient, unique: str
) -> None:
    text = (
        "email,name,city\r\n"
        f"an-{unique}@example.vn,An,Huế\r\n"
        "not-an-address,Bình,Hà Nội\r\n"
        f"cuong-{unique}@example.vn,Cường\r\n"
        f"dung-{unique}@example.vn,Dũng,Đà Nẵng,extra\r\n"
        ",Không có địa chỉ,Vinh\r\n"
    )
    body = imported(client, text.encode("utf-8"))
    assert (body["import"]["valid"], body["import"]["invalid"]) == (1, 4)
    english = [row["reason"] for row in body["invalid_rows"]]
    assert "is not a valid address: An email address must have an @-sign." in english[0]
    page = client.get(f"/campaigns/{body['id']}", headers=VIETNAMESE).get_data(as_text=True)
    expected = (
        "'not-an-address' không phải là địa chỉ hợp lệ: Địa chỉ email phải có dấu @.",
        "có 2 trường nhưng dòng tiêu đề có 3 (thiếu một trường",
        "có 4 trường nhưng dòng tiêu đề có 3 (giá trị chứa dấu ',' phải được đặt trong",
        "địa chỉ email đang trống",
    )
    for words in expected:
        assert str(escape(words)) in page, words
    for reason in english:
        assert str(escape(reason)) not in page, reason
    answer = client.get(f"/api/v1/campaigns/{body['id']}", headers=VIETNAMESE).json
    assert [row["reason"].split(" (")[0] for row in answer["invalid_rows"]] == [
        words.split(" (")[0] for words in expected
    ]
    download = client.get(body["import"]["invalid_rows_url"], headers=VIETNAMESE)
    assert "Địa chỉ email phải có dấu @." in download.get_data(as_text=True)
    # A whole file refused at upload says why in the asker's language too.
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = VIETNAMESE["Accept-Language"]
    try:
        refused = upload(client, b"name,city\r\nAn,Hue\r\n")
    finally:
        del client.environ_base["HTTP_ACCEPT_LANGUAGE"]
    assert refused.status_code == 422
    assert (
        "Dòng đầu tiên phải là dòng tiêu đề có cột 'email'"
        in refused.json["error"]["fields"]["file"]
    )


def test_what_the_system_stored_in_english_is_shown_in_the_reader_s_language(
    app: Flask, unique: str
) -> None:
    client, _ = signed_in(app, unique)
    stored_reply = english(
        "waiting: %(why)s",
        why=english(
            ACCOUNT_PROBLEM, target="smtp.example.vn:587", problem=UNREACHABLE, reply="421 later"
        ),
    )
    with app.app_context():
        campaign = Campaign(
            subject=f"stored {unique}", from_address="a@example.com", source="test",
            text_body="t",
        )  # fmt: skip
        db.session.add(campaign)
        db.session.flush()
        db.session.add(
            Message(
                campaign_id=campaign.id, to_address=f"x-{unique}@example.vn",
                status=MessageStatus.FAILED, last_reply=stored_reply,
                message_id_header=f"<stored-{unique}@example.vn>",
            )
        )  # fmt: skip
        db.session.commit()
        reason = english(PAUSED_FOR_FAILURES, failures=12, window=20, percent="50")
        assert pause_campaign(campaign, reason)
        campaign_id = campaign.id
    page = client.get(f"/campaigns/{campaign_id}", headers=VIETNAMESE).get_data(as_text=True)
    assert "Bộ bảo vệ lỗi đã tạm dừng: 12 trong 20 lần gửi gần nhất" in page
    assert "(giới hạn là 50%)" in page and "Paused by the failure guard" not in page
    # The SMTP server's own words stay as it wrote them.
    assert "đang chờ: tài khoản SMTP tại smtp.example.vn:587 không kết nối được (421 later)" in page
    # Stored, and given to programs, in English: one stable text.
    api = client.get(f"/api/v1/emails/{campaign_id}", headers=VIETNAMESE).json
    assert api["pause_reason"] == reason and api["messages"][0]["last_reply"] == stored_reply
    audit = client.get("/audit/?action=paused", headers=VIETNAMESE).get_data(as_text=True)
    assert f">chiến dịch {campaign_id}</td>" in audit and ">tạm dừng</td>" in audit
    assert "Bộ bảo vệ lỗi đã tạm dừng: 12 trong 20" in audit
    users = client.get("/users", headers=VIETNAMESE).get_data(as_text=True)
    assert ">quản trị</td>" in users and ">admin</td>" not in users
    statistics = client.get("/stats/?range=7d", headers=VIETNAMESE).get_data(as_text=True)
    assert 'aria-label="Thư đã gửi và thất bại theo ngày"' in statistics
    # The range is written day first, as the rest of the Vietnamese pages write dates.
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d – \d\d/\d\d/\d{4} \d\d:\d\d \(UTC\)", statistics)  # noqa: RUF001


def test_flask_s_and_flask_migrate_s_own_commands_are_listed_in_the_shell_s_language(
    stack_settings: dict[str, str], migrated_database: str
) -> None:
    def flask(language: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **process_env(stack_settings),
            "LANG": language,
            "LANGUAGE": "",
            "LC_ALL": "",
            "COLUMNS": "200",
        }
        return subprocess.run(
            [sys.executable, "-m", "flask", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    listed = flask("vi_VN.UTF-8", "--help")
    assert listed.returncode == 0, listed.stderr
    for line in ("run              Chạy máy chủ phát triển.",
                 "shell            Mở Python shell trong ngữ cảnh của ứng dụng.",
                 "routes           Liệt kê các đường dẫn (route) của ứng dụng.",
                 "db               Chuyển đổi (migration) cơ sở dữ liệu."):  # fmt: skip
        assert line in listed.stdout, line
    migrations = flask("vi_VN.UTF-8", "db", "--help")
    assert migrations.returncode == 0, migrations.stderr
    for words in ("Cách dùng:", "flask db [", "Chuyển đổi (migration) cơ sở dữ liệu.",
                  "Thư mục chứa các script migration", "Nâng lên một phiên bản mới hơn",
                  "Ghi revision đã cho vào bảng revision ('stamp')"):  # fmt: skip
        assert words in migrations.stdout, words
    assert "Upgrade to a later version" not in migrations.stdout
    english = flask("C.UTF-8", "db", "--help")
    assert "Perform database migrations." in english.stdout
    assert "Upgrade to a later version" in english.stdout and "Nâng lên" not in english.stdout


def test_every_text_of_flask_s_own_commands_has_its_translation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new Flask or Flask-Migrate that rewords a command fails here, not silently in English."""
    monkeypatch.setenv("LANGUAGE", "C")  # the texts as the libraries wrote them
    shown = [str(c.short_help) for c in (run_command, shell_command, routes_command)]
    shown += [str(c.help) for c in (migrations, *migrations.commands.values())]
    shown += [str(english_help(p)) for p in migrations.params if english_help(p)]
    assert {" ".join(text.split()) for text in shown} <= set(LIBRARY_WORDS)


def vietnamese_session(app: Flask, unique: str) -> FlaskClient:
    """An admin's signed-in client whose browser asks for Vietnamese."""
    client, _ = signed_in(app, unique)
    client.environ_base.update(HTTP_ACCEPT_LANGUAGE=VIETNAMESE["Accept-Language"])
    return client


def vietnamese_api(app: Flask, email: str) -> FlaskClient:
    """A new sender's API client, with its token, asking for Vietnamese."""
    api = FlaskClient(app, app.response_class)
    api.environ_base.update(
        HTTP_ACCEPT_LANGUAGE=VIETNAMESE["Accept-Language"],
        HTTP_AUTHORIZATION=f"Bearer {make_user(app, email).token}",
    )
    return api


def refusals(
    client: FlaskClient, path: str, fields: dict, *, form_page: str = "", **post: object
) -> list[str]:
    """Post a form with the CSRF token of its page (`form_page`, else `path`): it must be
    refused (422); the field errors the page shows."""
    token = form_csrf(client, form_page or path)
    answer = client.post(path, data={"csrf_token": token, **fields}, **post)
    assert answer.status_code == 422, answer.status_code
    return field_errors_on(answer.get_data(as_text=True))


def field_errors_on(page: str) -> list[str]:
    found = re.findall(r'<p class="error" role="alert">(.*?)</p>', page, re.DOTALL)
    return [text.strip() for text in found]


def test_the_mail_layer_s_refusals_are_said_in_the_reader_s_language_on_every_form(
    app: Flask, unique: str
) -> None:
    """The header check's refusal, which the mail layer writes in English, is said in
    Vietnamese wherever a person meets it: a token's name, a webhook's description, a CSV
    campaign's subject and sender, a new user's address, an attachment's file name."""
    client = vietnamese_session(app, unique)
    refusal = refusals(client, "/tokens", {"name": "máy\x07in"})[0]
    assert is_vietnamese(refusal) and "must be" not in refusal, refusal
    webhook = {
        "url": "https://hooks.example.com/in",
        "description": "hệ thống\x00kế toán",
        "events": ["sent"],
    }
    refusal = refusals(client, "/webhooks/", webhook)[0]
    assert is_vietnamese(refusal) and "must be" not in refusal, refusal
    api = vietnamese_api(app, f"lang-api-{unique}@example.com")
    campaign = upload(api, b"email\r\nan@example.com\r\n", subject="Tin\x07 mới")
    assert campaign.status_code == 422, campaign.get_data(as_text=True)
    refusal = campaign.json["error"]["fields"]["subject"]
    assert is_vietnamese(refusal) and "must be" not in refusal, refusal
    sender = upload(api, b"email\r\nan@example.com\r\n", **{"from": "phong kinh doanh"})
    assert sender.status_code == 422, sender.get_data(as_text=True)
    refusal = sender.json["error"]["fields"]["from"]
    assert is_vietnamese(refusal) and "@-sign" not in refusal, refusal
    person = {"email": "an..nguyen@example.com", "password": PASSWORD, "role": "sender"}
    refusal = refusals(client, "/users", person)[0]
    assert is_vietnamese(refusal) and "period" not in refusal, refusal
    email = {
        "to": "an@example.com",
        "subject": "Hoá đơn",
        "text": "Xin chào",
        "attachments": (io.BytesIO(b"x"), "hoa-don\u202etxt.exe"),
    }
    refusal = refusals(client, "/", email, content_type="multipart/form-data")[0]
    assert is_vietnamese(refusal) and "contains the bidirectional" not in refusal, refusal


def test_the_sending_accounts_refusals_are_said_in_the_reader_s_language(
    app: Flask, unique: str
) -> None:
    """Every problem of the Sending accounts form and of the pool form, and a submission naming
    an account that does not exist, in Vietnamese."""
    client = vietnamese_session(app, unique)
    xoauth2 = {
        "port": "587",
        "tls_mode": "starttls",
        "auth": "xoauth2",
        "per_second": "0",
        "per_day": "0",
    }
    bad = {
        **xoauth2,
        "name": "tên sai!",
        "host": "smtp example",
        "username": "",
        "oauth_token_url": "ftp://x",
        "from_allowed": "không phải địa chỉ",
    }
    said = refusals(client, "/accounts/", bad)
    # Name, host, token endpoint, allowed senders; and what XOAUTH2 needs, all at once.
    assert len(said) == 8, said
    for refusal in said:
        assert is_vietnamese(refusal), refusal
    lacking = {
        **xoauth2,
        "name": f"gmail-{unique}",
        "host": "smtp.gmail.com",
        "oauth_token_url": "https://oauth2.googleapis.com/token",
    }
    said = refusals(client, "/accounts/", lacking)
    assert len(said) == 4, said  # user name, client id, client secret, refresh token
    for refusal in said:
        assert is_vietnamese(refusal), refusal
    pool = {"pool-name": f"pool-{unique}", "pool-accounts": f"khong-co-{unique}"}
    (refusal,) = refusals(client, "/accounts/pools", pool, form_page="/accounts/")
    assert is_vietnamese(refusal) and f"khong-co-{unique}" in refusal, refusal
    api = vietnamese_api(app, f"lang-acc-{unique}@example.com")
    email = api.post(
        "/api/v1/emails",
        json={"to": "an@example.com", "subject": "Chào", "text": "x", "account": "khong-co"},
    )
    assert email.status_code == 422
    refusal = email.json["error"]["fields"]["account"]
    assert is_vietnamese(refusal) and "khong-co" in refusal, refusal


def test_a_merge_template_s_problems_are_said_in_the_reader_s_language(
    app: Flask, unique: str
) -> None:
    """Mail merge's refusals (a syntax error, a column the file lacks, what the sandbox or the
    merge refuses) in Vietnamese, for a CSV campaign, a saved template and a composed email;
    in English, as they were."""
    api = FlaskClient(app, app.response_class)
    api.environ_base.update(
        HTTP_AUTHORIZATION=f"Bearer {make_user(app, f'lang-merge-{unique}@example.com').token}"
    )
    rows = b"email,name\r\nb@example.com,B\r\n"
    cases = {
        ("subject", "Chào {{ name"): "line 1: the template ends where }} was expected",
        ("subject", "{% if name %}có tên"): "line 1: the template ends before {% if %} is closed",
        ("subject", "Chào {{ name ? }}"): "the character '?' cannot be used",
        ("template", "Chào {{ city }}"): "the file has no column 'city'",
        ("template", "Chào {{ name.__class__ }}"): "refused by the sandbox",
        ("subject", "Chào {{ name|wordwrap }}"): "is not available in mail merge",
        ("subject", "{% for x in name %}{{ x }}{% endfor %}"): "mail merge has no {% for %}",
    }
    for (field, subject), english_words in cases.items():
        english = upload(api, rows, subject=subject).json["error"]["fields"][field]
        assert english_words in english, english
        api.environ_base["HTTP_ACCEPT_LANGUAGE"] = VIETNAMESE["Accept-Language"]
        refusal = upload(api, rows, subject=subject).json["error"]["fields"][field]
        del api.environ_base["HTTP_ACCEPT_LANGUAGE"]
        assert is_vietnamese(refusal) and english_words not in refusal, refusal
    client = vietnamese_session(app, unique)
    template = {"name": f"mẫu {unique}", "subject": "Chào {{ name", "text": "x"}
    refusal = refusals(client, "/templates/new", template)[0]
    assert refusal == "dòng 1: mẫu kết thúc ở chỗ cần }}", refusal
    template["subject"] = "{{ 1 2 }}"
    refusal = refusals(client, "/templates/new", template)[0]
    assert refusal == "dòng 1: ở đây cần }}, không phải một số", refusal
    email = {"to": "an@example.com", "subject": "Chào {{ name }}", "text": "{{ name.__class__ }}"}
    refusal = refusals(client, "/", email)[0]
    assert is_vietnamese(refusal) and "refused by the sandbox" not in refusal, refusal


def test_the_audit_trail_s_details_are_said_in_the_reader_s_language(
    app: Flask, unique: str
) -> None:
    """What the services wrote as an event's detail, in English, reads in Vietnamese on the
    Audit page (the API keeps the detail as stored)."""
    person = make_user(app, f"lang-audit-{unique}@example.com")
    api = FlaskClient(app, app.response_class)
    token = {"Authorization": f"Bearer {person.token}"}
    sent = api.post(
        "/api/v1/emails",
        json={"to": "a@example.com", "subject": "Chào", "text": "x"},
        headers=token,
    )
    assert sent.status_code == 202
    client, _ = signed_in(app, unique)
    target = f"campaign {sent.json['id']}"
    # By who too: other tests write events of their own naming campaign ids.
    found = {"target": target, "action": "sent", "actor": person.email}
    (event,) = client.get("/api/v1/audit", query_string=found).json["events"]
    assert event["detail"] == "1 recipient(s) from api"
    page = client.get("/audit/", query_string=found, headers=VIETNAMESE)
    row = page.get_data(as_text=True).split(f'id="event-{event["id"]}"')[1].split("</tr>")[0]
    assert "1 người nhận từ API" in row and "recipient(s)" not in row


def test_the_codes_in_an_audit_detail_are_said_in_words(app: Flask, unique: str) -> None:
    """A role, where recipients came from and why an address is suppressed are stored as codes
    in an event's detail; the Audit page names them as the rest of the dashboard does, and a
    role change reads as one."""
    person = make_user(app, f"lang-codes-{unique}@example.com", role="viewer")
    address = f"chan-{unique}@example.com"
    with app.app_context():
        set_role(db.session.get(User, person.id), "sender")
        suppress([address], SuppressionReason.MANUAL)
        submit_email(EmailRequest(to=["a@example.com"], subject="Chào", text="x"), source="form")
    client, _ = signed_in(app, unique)

    def detail(**filters: str) -> tuple[str, str]:
        stored = client.get("/api/v1/audit", query_string=filters).json["events"][0]
        page = client.get("/audit/", query_string=filters, headers=VIETNAMESE)
        row = page.get_data(as_text=True).split(f'id="event-{stored["id"]}"')[1]
        shown = re.search(r'data-label="Chi tiết">(.*?)</td>', row.split("</tr>")[0])
        assert shown is not None, row
        return stored["detail"], html.unescape(shown.group(1))

    user = f"user {person.id}"
    assert detail(target=user, action="user-created") == (
        f"{person.email} as viewer",
        f"{person.email} với vai trò người xem",
    )
    assert detail(target=user, action="role-changed") == (
        f"{person.email}: viewer to sender",
        f"{person.email}: từ người xem thành người gửi",
    )
    assert detail(target=address) == (
        "1 address(es), manual",
        "1 địa chỉ, lý do thêm thủ công",
    )
    assert detail(action="sent") == ("1 recipient(s) from form", "1 người nhận từ Soạn thư")
    # The column of where a request came from is its IP address, not a message's sender.
    page = client.get("/audit/", headers=VIETNAMESE).get_data(as_text=True)
    assert 'data-label="Địa chỉ IP"' in page and 'data-label="Người gửi"' not in page
