"""Every page and endpoint that reads query arguments, given any values for them (random
Unicode, digits of other scripts, NULs, impossible dates, huge numbers): a page or a 422 that
says what is wrong, never a 500. Bounded: a few dozen cases a page."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Each page's own arguments (the ones it reads), with what a bad one answers.
PAGES = {
    "/campaigns/": ["before", "after"],
    "/history/": [
        "status", "campaign", "code", "since", "until", "recipient", "subject", "domain",
        "before", "after",
    ],
    "/outbox/": ["q", "before", "after"],
    "/audit/": ["actor", "action", "target", "since", "until", "before", "after"],
    "/stats/": ["range", "since", "until", "unit"],
    "/api/v1/campaigns": ["before", "after", "limit"],
    "/api/v1/audit": ["actor", "action", "target", "since", "until", "before"],
    "/api/v1/stats": ["range", "since", "until", "unit", "zone"],
}  # fmt: skip
AWKWARD = [
    "", " ", "0", "-1", "1e9", "9" * 30, "2147483648", "\u00b2", "\u0661\u0662", "\x00", "%",
    "2026-02-30", "2026-13-01", "0001-01-01", "9999-12-31", "9999-12-31T23:59:59",
    "2026-12-31T25:61", "2026-06-01T00:00+07:00", "NaN", "Asia/Ho_Chi_Minh", "UTC+7", "7d",
    "hour", "sent", "#12", "5xx", "550", "Nguyễn", "a" * 5000,
]  # fmt: skip
values = st.sampled_from(AWKWARD) | st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@pytest.mark.parametrize("path", sorted(PAGES))
def test_any_query_is_a_page_or_a_422_never_a_500(client: FlaskClient, path: str) -> None:
    statuses: set[int] = set()

    @settings(
        max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.dictionaries(st.sampled_from(PAGES[path]), values, max_size=len(PAGES[path])))
    def answer_of(query: dict[str, str]) -> None:
        answer = client.get(path, query_string=query)
        assert answer.status_code in (200, 422), (query, answer.get_data(as_text=True)[-600:])
        statuses.add(answer.status_code)

    answer_of()
    assert statuses == {200, 422}  # both were met: the values reach the page's checks
