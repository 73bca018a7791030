"""Mail-merge templates are values, filters and conditions: what a template could use to reach
Python's internals, the server's files or its config, or to cost hours per recipient, is refused
when the template is compiled, naming the field and line, before anything is stored or sent."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard.mail.merge import TemplateProblem, check_merge, compile_merge
from dashboard.models import Campaign, CsvImport
from tests.conftest import count_rows
from tests.csv_campaign_helpers import upload

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
