"""History shows each merge message as it was sent: the list and its search by the subject the
recipient got, the detail page with it and with the headers the worker added."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import wait_for_final
from tests.csv_campaign_helpers import csv_bytes, imported
from tests.history_rows import shown_ids
from tests.smtp_server import ScriptedSMTPServer


def test_history_lists_and_finds_the_subject_each_recipient_got(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    rows = [[f"lan-{unique}@example.vn", "Trần Thị Lan"], [f"an-{unique}@example.vn", "Lê An"]]
    body = imported(
        client,
        csv_bytes([["email", "name"], *rows]),
        subject=f"Chào {{{{ name }}}} {unique}",
        text="Kính gửi {{ name }}",
    )
    assert client.post(f"/api/v1/campaigns/{body['id']}/confirm").status_code == 200
    messages = {m.to_address: m.id for m in wait_for_final(app, body["id"])}
    lan = messages[f"lan-{unique}@example.vn"]

    listed = client.get(f"/history/?campaign={body['id']}").get_data(as_text=True)
    assert f"<td>Chào Trần Thị Lan {unique}</td>" in listed
    assert f"<td>Chào Lê An {unique}</td>" in listed
    # The campaign filter's title of a merge campaign neither (other tests' plain subjects may
    # hold "{{" as typed, and show it so).
    option = re.search(rf'<option value="{body["id"]}">([^<]*)</option>', listed)
    assert option and option.group(1) == f"#{body['id']} Chào \u2039name\u203a {unique}"
    rows = listed.split("<tbody", 1)[-1]
    assert "{{" not in rows

    found = client.get("/history/", query_string={"subject": f"Trần Thị Lan {unique}"})
    assert shown_ids(found.get_data(as_text=True)) == [lan]
    by_template = client.get("/history/", query_string={"subject": f"Chào {{{{ name }}}} {unique}"})
    assert shown_ids(by_template.get_data(as_text=True)) == []  # nobody got that subject

    detail = client.get(f"/history/{lan}").get_data(as_text=True)
    assert re.search(rf'id="message-subject">Chào Trần Thị Lan {unique}<', detail)
    assert "List-Unsubscribe" in detail and "List-Unsubscribe-Post" in detail
    [sent] = [r for r in smtp_server.received if f"lan-{unique}@example.vn" in r.rcpt_tos]
    assert "List-Unsubscribe: " in sent.raw.decode("utf-8", "replace")

    export = client.get(f"/history/export.csv?campaign={body['id']}").get_data(as_text=True)
    assert f"Chào Trần Thị Lan {unique}" in export
