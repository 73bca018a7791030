"""Mail-merge templates are values, filters and conditions: what a template could use to reach
Python's internals, the server's files or its config, or to cost hours per recipient, is refused
when the template is compiled, naming the field and line, before anything is stored or sent."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard.mail.merge import TemplateProblem, check_merge, compile_merge
from dashboard.models import Campaign, CsvImport, MessageTemplate
from tests.auth_helpers import errors_by_field, form_csrf
from tests.conftest import count_rows
from tests.csv_campaign_helpers import post_multipart, upload

VALUES = {"name": "nguyễn văn an", "company": "Công ty Sao Mai", "email": "an@example.vn"}


@pytest.mark.parametrize(
    ("source", "rendered"),
    [
        ("Chào {{ name|title }}", "Chào Nguyễn Văn An"),
        ("{% if company %}ở {{ company }}{% else %}bạn{% endif %}", "ở Công ty Sao Mai"),
        ("{{ missing_ok|default('bạn') if false else name|upper }}", "NGUYỄN VĂN AN"),
        ("{{ name ~ ' <' ~ email ~ '>' }}", "nguyễn văn an <an@example.vn>"),
        ("{{ name[:6] }}", "nguyễn"),
    ],
)
def test_values_filters_and_conditions_render(source: str, rendered: str) -> None:
    assert compile_merge(source, source, None).render(VALUES).text == rendered


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{% for a in name %}{% for b in name %}x{% endfor %}{% endfor %}", "{% for %} loops"),
        ("{{ range(100000) }}", "calls like range()"),
        ("{{ 'x' * 10**9 }}", "* operator"),
        ("{{ '%0999999999d' % 1 }}", "% operator"),
        ("{{ name|center(1000000000) }}", "|center is not available"),
        ("{{ name.center(1000000000) }}", "calls like range()"),
        ("{{ lipsum(1000000) }}", "calls like range()"),
        ("{% include '/etc/passwd' %}", "{% include %}"),
        ("{% import 'os' as os %}", "{% import %}"),
        ("{% set config = name %}", "{% set %}"),
        ("{{ name|safe }}", "|safe is not available"),  # a CSV value must never become markup
    ],
)
def test_costly_or_dangerous_parts_are_refused_naming_field_and_line(
    source: str, words: str
) -> None:
    with pytest.raises(TemplateProblem) as refused:
        compile_merge("Chào", "Dòng một\n" + source, None)
    assert refused.value.field == "text"
    assert str(refused.value).startswith("line 2: ")
    assert words in str(refused.value)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__ }}", "refused by the sandbox"),
        ("{{ self._TemplateReference__context }}", "refused by the sandbox"),
        ("{{ cycler.__init__.__globals__ }}", "no column 'cycler'"),  # no globals at all
        ("{{ config.SECRET_KEY }}", "no column 'config'"),
    ],
)
def test_internals_and_config_are_out_of_reach(source: str, words: str) -> None:
    problems = check_merge(compile_merge("Chào", source, None), ["name"])
    assert len(problems) == 1 and words in str(problems[0])


def test_a_loop_bomb_uploaded_as_a_campaign_is_refused_and_stores_nothing(
    app: Flask, client: FlaskClient
) -> None:
    before = (count_rows(app, Campaign), count_rows(app, CsvImport))
    bomb = "{% for a in name %}{% for b in name %}{{ name }}{% endfor %}{% endfor %}"
    response = upload(client, b"email,name\r\nan@example.vn,An\r\n", html=bomb)
    assert response.status_code == 422, response.json
    assert "{% for %} loops" in response.json["error"]["fields"]["html"]
    assert (count_rows(app, Campaign), count_rows(app, CsvImport)) == before


# A template broken in each of the ways a person breaks one: delimiters, blocks, expressions.
_BROKEN = (
    "Chào {{ ten",
    "Chào {{ ten }",
    "{{ }}",
    "{{ ten | }}",
    "{{ ten ? }}",
    "{{ ho ten }}",
    "{{ ten( }}",
    '{{ "Hà Nội }}',
    "{{ ten.}}",
    "{{ 5 6 }}",
    "{{ ten 'x' }}",
    "{{ [1, 2 }}",
    "{{ 1 * }}",
    "{% if ten %}có tên",
    "{% for x in ten %}x",
    "{% endif %}",
    "{% else %}",
    "{% chao %}",
    "{% if %}x{% endif %}",
    "{% if a %}{% for b in c %}{% endif %}",
    "{% if a %}{% chao %}{% endif %}",
    "{% if a %}x{% endfor %}",
    "{# ghi chú",
    "{% raw %}x",
    "{{ a |",
    "{% if a }",
)


@pytest.mark.parametrize("source", _BROKEN)
def test_a_syntax_error_is_said_in_the_project_s_words(source: str) -> None:
    """Jinja's account of a syntax error is said in sentences of the project's catalogue, which
    name the delimiters a person types ({{, }}, {% %}) where Jinja says "end of print
    statement", so that a page can say them in its reader's language."""
    with pytest.raises(TemplateProblem) as refused:
        compile_merge(source, "x", None)
    said = str(refused.value)
    assert said.startswith("line 1: "), said
    jinja_words = ("unexpected", "Encountered", "Jinja", "statement", "expression", "Missing")
    assert not any(words in said for words in jinja_words), said


def test_each_part_s_syntax_error_is_found_at_once() -> None:
    with pytest.raises(TemplateProblem) as refused:
        compile_merge("Chào {{ name", "Nội dung đúng {{ name }}", "<p>{% if name %}</p>")
    said = {problem.field: str(problem) for problem in refused.value.each()}
    assert said == {
        "subject": "line 1: the template ends where }} was expected",
        "html": "line 1: the template ends before {% if %} is closed "
        "(with {% elif %} / {% else %} / {% endif %})",
    }


def test_every_form_names_each_part_s_template_problem_with_the_other_fields(
    app: Flask, client: FlaskClient
) -> None:
    """The compose form, a saved template and a CSV campaign over the API say what is wrong
    with each part of the template beside what is wrong with their other fields, and store
    nothing."""
    broken = {"subject": "Chào {{ name ? }}", "text": "{% for x in name %}", "html": "<p>{{ }}</p>"}
    before = (count_rows(app, Campaign), count_rows(app, MessageTemplate))
    compose = client.post(
        "/", data={"csrf_token": form_csrf(client, "/"), "to": "not an address", **broken}
    )
    assert compose.status_code == 422
    shown = errors_by_field(compose)
    assert set(shown) == {"to", "subject", "text", "html"}, shown

    saved = client.post(
        "/templates/new",
        data={"csrf_token": form_csrf(client, "/templates/new"), "name": "", **broken},
    )
    assert saved.status_code == 422
    shown = errors_by_field(saved)
    assert set(shown) == {"name", "subject", "text", "html"}, shown

    api = upload(client, b"", filename="empty.csv", **broken)
    assert api.status_code == 422
    fields = api.json["error"]["fields"]
    assert set(fields) == {"file", "subject", "text", "html"}, fields
    closes = "{% endfor %} / {% else %}"
    assert (
        fields["text"] == f"line 1: the template ends before {{% for %}} is closed (with {closes})"
    )

    email = client.post("/api/v1/emails", json={**broken, "to": "not an address", "merge": True})
    assert email.status_code == 422
    fields = email.json["error"]["fields"]
    assert set(fields) == {"to", "subject", "text", "html"}, fields
    unknown = client.post(
        "/api/v1/emails",
        json={"to": "an@example.vn", "subject": "Chào {{ ho_ten }}", "text": "x", "merge": True},
    )
    assert unknown.status_code == 422
    assert unknown.json["error"]["fields"]["text"].startswith("The email uses {{ ho_ten }}")

    no_file = post_multipart(client, "/api/v1/campaigns", {**broken, "from": "nobody"})
    assert no_file.status_code == 422
    fields = no_file.json["error"]["fields"]
    assert set(fields) == {"file", "from", "subject", "text", "html"}, fields

    form = client.post(
        "/campaigns/new",
        data={"csrf_token": form_csrf(client, "/campaigns/new"), "sender": "nobody", **broken},
    )
    assert form.status_code == 422
    assert set(errors_by_field(form)) == {"file", "sender", "subject", "text", "html"}
    assert (count_rows(app, Campaign), count_rows(app, MessageTemplate)) == before
