"""Property tests (Hypothesis): random templates, CSV rows, dates and JSON bodies fed to the same
entry points a person or a client reaches, through the service functions and the Flask test
client. Whatever arrives, the answer is a clear refusal or a result: never a 5xx, never an
exception the entry point does not name, and each example within Hypothesis' `deadline`.

Derandomized, with no example database: CI runs the same examples every time (about a minute).
"""

from __future__ import annotations

import io
import itertools
import json
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import FileStorage

from dashboard.campaigns.csv_reading import CsvFormatError, read_records, sniff_layout
from dashboard.mail.merge import TemplateProblem, check_merge, compile_merge
from tests.csv_campaign_helpers import csv_bytes, post_multipart, upload
from tests.test_campaign_pages import token_on

_names = itertools.count()

FAST = settings(
    max_examples=300,
    deadline=timedelta(milliseconds=500),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Through the whole Flask stack, on 2 shared cores: fewer examples, a looser deadline.
HTTP = settings(FAST, max_examples=60, deadline=timedelta(seconds=3))

# --- Templates ----------------------------------------------------------------------------

_TEMPLATE_PIECES = [
    "{{",
    "}}",
    "{%",
    "%}",
    " if ",
    " else ",
    " endif ",
    " elif ",
    " not ",
    " and ",
    " or ",
    "name",
    "email",
    "v",
    "(",
    ")",
    "[",
    "]",
    "+",
    "-",
    "/",
    "//",
    "~",
    "|",
    "upper",
    "int",
    "length",
    "default('x')",
    ".",
    "format",
    "__class__",
    "'s'",
    "9" * 30,
    "1.5e308",
    ":",
    " ",
    "\n",
    "ơ",
]
templates = st.one_of(
    st.lists(st.sampled_from(_TEMPLATE_PIECES), max_size=60).map("".join),
    st.builds(
        lambda open_, inner, depth: open_ * depth + inner + {"(": ")", "[": "]"}[open_] * depth,
        st.sampled_from(["(", "["]),
        st.sampled_from(["name", "1", "-1", "not name"]),
        st.integers(0, 400),
    ).map(lambda expression: "{{ " + expression + " }}"),
    st.builds(
        lambda depth, body: "{% if name %}" * depth + body + "{% endif %}" * depth,
        st.integers(0, 150),
        st.sampled_from(["x", "{{ name }}", "{{ v * 2 }}"]),
    ),
    st.integers(1, 5000).map(lambda n: "{{ " + " + ".join(["name"] * n) + " }}"),
    st.text(max_size=200),
)
values = st.dictionaries(
    st.sampled_from(["name", "email", "v"]), st.text(max_size=3000), min_size=3
).filter(lambda found: len(found) == 3)


@FAST
@given(source=templates, row=values, times=st.integers(1, 400))
def test_any_template_compiles_renders_within_the_cap_or_is_refused_by_name(
    source: str, row: dict[str, str], times: int
) -> None:
    try:
        template = compile_merge(
            "Chào {{ name }}", source * (times if len(source) < 20 else 1), None
        )
    except TemplateProblem as problem:
        assert problem.field == "text" and str(problem)
        return
    check_merge(template, ["name", "v"])
    try:
        rendered = template.render(row, max_bytes=64 * 1024)
    except TemplateProblem as problem:
        assert problem.field in ("subject", "text") and str(problem)
        return
    size = len(rendered.subject.encode()) + len(rendered.text.encode())
    assert size <= 64 * 1024


@HTTP
@given(source=templates)
def test_any_template_on_the_template_page_is_a_page_or_a_refusal(
    client: FlaskClient, csrf: str, source: str
) -> None:
    name = f"property {next(_names)}"
    answer = client.post(
        "/templates/new", data={"csrf_token": csrf, "name": name, "subject": "s", "text": source}
    )
    assert answer.status_code in (302, 422), answer.get_data(as_text=True)[:500]


# --- CSV rows -----------------------------------------------------------------------------

cells = st.one_of(
    st.text(max_size=40),
    st.sampled_from(['"', '""', ",", ";", "\t", "\r\n", "\n", "=1+2", "\ufeff", "\x00"]),
    st.integers(0, 300_000).map(lambda n: "x" * n),
)
rows = st.lists(st.lists(cells, max_size=12), max_size=8)


def _csv_data(header: list[str], body: list[list[str]], delimiter: str) -> bytes:
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in body]
    return "\r\n".join(lines).encode("utf-8", "surrogatepass")


@FAST
@given(
    header=st.lists(st.sampled_from(["email", "name", "", "a", "Email", '"email"']), max_size=5),
    body=rows,
    delimiter=st.sampled_from([",", ";", "\t"]),
    wide=st.integers(0, 200_000),
)
def test_any_csv_is_read_row_by_row_within_the_bounds_or_refused(
    header: list[str], body: list[list[str]], delimiter: str, wide: int
) -> None:
    data = _csv_data(header, body, delimiter) + b"\r\n" + b"," * wide
    try:
        layout = sniff_layout(data[: 64 * 1024], complete=len(data) <= 64 * 1024, max_fields=1000)
        stream = io.TextIOWrapper(io.BytesIO(data), encoding=layout.encoding, errors="replace")
        for _, found in read_records(stream, layout, max_row_bytes=128 * 1024):
            assert len(found) <= 128 * 1024 + 1
    except (CsvFormatError, UnicodeDecodeError):
        pass


@HTTP
@given(header=st.sampled_from([["email"], ["email", "note"], ["note"]]), body=rows)
def test_any_suppression_list_is_added_or_refused_clearly(
    client: FlaskClient, csrf: str, header: list[str], body: list[list[str]]
) -> None:
    data = _csv_data(header, body, ",")
    answer = post_multipart(
        client,
        "/suppressions/",
        {
            "csrf_token": csrf,
            "addresses": "",
            "reason": "manual",
            "file": FileStorage(io.BytesIO(data), filename="list.csv", content_type="text/csv"),
        },
    )
    assert answer.status_code in (302, 422), answer.get_data(as_text=True)[:500]


# --- Dates --------------------------------------------------------------------------------

offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.one_of(
    st.datetimes(timezones=st.none() | offsets | st.just(UTC)).map(datetime.isoformat),
    st.dates().map(lambda day: day.isoformat()),
    st.sampled_from(["9999-12-31", "0001-01-01", "9999-12-31T23:59", "1900-01-01", "2026-02-30"]),
    st.text(alphabet=string.digits + "-:TZ+. ", max_size=40),
)


@HTTP
@given(since=moments, until=moments, unit=st.sampled_from(["", "hour", "day"]))
def test_any_range_on_statistics_and_history_is_a_page_or_a_refusal(
    client: FlaskClient, since: str, until: str, unit: str
) -> None:
    query = {"since": since, "until": until, "unit": unit}
    assert client.get("/api/v1/stats", query_string=query).status_code in (200, 422)
    assert client.get("/stats/", query_string=query).status_code in (200, 422)
    assert client.get("/history/", query_string=query).status_code in (200, 422)


@HTTP
@given(send_at=moments)
def test_any_send_at_is_scheduled_or_refused(client: FlaskClient, send_at: str) -> None:
    # No recipient the server accepts: a send_at that passes still ends in a 422, never a send.
    body = {"to": "not an address", "subject": "s", "text": "t", "send_at": send_at}
    answer = client.post("/api/v1/emails", json=body)
    assert answer.status_code == 422, answer.get_data(as_text=True)[:500]


# --- JSON bodies --------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
deep = st.builds(
    lambda depth, open_: open_ * depth + {"[": "]", "{": "}"}[open_] * depth,
    st.integers(0, 3000),
    st.sampled_from(["["]),
)


@HTTP
@given(
    extra=st.dictionaries(
        st.sampled_from(["subject", "text", "html", "from", "unknown", "attachments"]),
        json_values,
        max_size=4,
    ),
    nested=deep,
    raw_tail=st.sampled_from(["", "}", "]", "{", '"', "[" * 40]),
)
def test_any_json_body_is_a_4xx_never_a_5xx(
    client: FlaskClient, draft: int, extra: dict, nested: str, raw_tail: str
) -> None:
    # Never a "to", always an unknown "deep": nothing random can be sent or confirmed.
    body = json.dumps(extra)[:-1] + (", " if extra else "") + f'"deep": {nested}}}' + raw_tail
    for url in ("/api/v1/emails", f"/api/v1/campaigns/{draft}/confirm"):
        answer = client.post(url, data=body, content_type="application/json")
        assert 400 <= answer.status_code < 500, (url, answer.get_data(as_text=True)[:300])


# --- Fixtures -----------------------------------------------------------------------------


@pytest.fixture
def csrf(app: Flask, client: FlaskClient) -> str:
    return token_on(client.get("/").get_data(as_text=True))


@pytest.fixture
def draft(client: FlaskClient, unique: str) -> int:
    """A draft campaign, for its confirm endpoint (which reads a JSON body)."""
    data = csv_bytes([["email"], [f"draft-{unique}@example.vn"]])
    answer = upload(client, data, subject="Chào", text="Thư cho {{ email }}")
    assert answer.status_code == 202, answer.json
    return answer.json["id"]
