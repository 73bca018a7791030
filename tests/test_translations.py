"""Every word a page shows goes through the catalogue, and the Vietnamese catalogue is whole.

The template check reads each template with Jinja's own lexer: what is left of its literal text
once tags, comments and non-words are taken out must be empty, so a new English sentence typed
straight into a template fails here until it is wrapped in `{{ _('...') }}`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from jinja2 import Environment
from jinja2.ext import i18n

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "dashboard" / "templates"
TRANSLATIONS = ROOT / "dashboard" / "translations"

# Attributes a person reads (or a screen reader speaks); others (class, href, ...) are code.
READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "value")
# Literal text that is the same in every language: product and protocol names, examples,
# code a person types, symbols.
NON_WORDS = {
    "API",
    "MAIL_SERVER",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "flask",
    "app",
    "wsgi",
    "create-admin",
    "ms",
    "s",
    "UTC",
    "nguyen.van.a@",
    "example.vn",
    "One-Click",
    "List-Unsubscribe",
    "Nguyễn",
    "Văn",
    "A",
    "a@example.vn",
    "b@example.com",
    "email",
}
WORD = re.compile(r"[^\W\d_][\w.@-]*", re.UNICODE)


def template_paths() -> list[Path]:
    return sorted(p for p in TEMPLATES.rglob("*.html"))


def literal_text(source: str) -> list[str]:
    """The template's own text: Jinja's `data` tokens, without HTML tags and entities."""
    env = Environment(extensions=[i18n])
    chunks = [value for _, kind, value in env.lex(source) if kind == "data"]
    html = "".join(chunks)
    attributes = re.compile(r"\s(" + "|".join(READ_ATTRIBUTES) + r')="([^"]*)"')
    read = [match.group(2) for match in attributes.finditer(html)]
    html = re.sub(r"<!--.*?-->", " ", html, flags=re.S)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", html)
    text = re.sub(r"&[a-z#0-9]+;", " ", text)
    return [text, *read]


def unmarked_words(source: str) -> list[str]:
    words = []
    for text in literal_text(source):
        words += [w for w in WORD.findall(text) if w.strip(".-") not in NON_WORDS]
    return words


@pytest.mark.parametrize("path", template_paths(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_word_in_a_template_is_marked_for_translation(path: Path) -> None:
    words = unmarked_words(path.read_text(encoding="utf-8"))
    assert not words, f"{path.name}: wrap these in {{{{ _('...') }}}}: {words[:12]}"


def test_the_check_finds_an_unmarked_sentence() -> None:
    assert unmarked_words("<p>{{ _('Sent') }}</p><p>Nothing here</p>") == ["Nothing", "here"]
    assert unmarked_words('<input placeholder="your name">') == ["your", "name"]
    assert unmarked_words("<p>{{ _('Sent') }} · {{ count }} ms</p>") == []


def catalogue_ids(path: Path) -> set[object]:
    with path.open("rb") as handle:
        return {message.id for message in read_po(handle) if message.id}


def test_the_template_catalogue_is_up_to_date_with_the_sources(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
         "-k", "_l", "-k", "lazy_gettext", "--no-location", "--sort-output", "-o", str(fresh), "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    committed = catalogue_ids(TRANSLATIONS / "messages.pot")
    extracted = catalogue_ids(fresh)
    new, gone = sorted(map(str, extracted - committed)), sorted(map(str, committed - extracted))
    assert extracted == committed, (
        "run `pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output "
        f"-o dashboard/translations/messages.pot .`: new {new[:10]}, gone {gone[:10]}"
    )


PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def test_every_message_has_a_vietnamese_translation_with_the_same_placeholders() -> None:
    with (TRANSLATIONS / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    assert not catalogue.fuzzy
    wanted = catalogue_ids(TRANSLATIONS / "messages.pot")
    translated = {m.id for m in catalogue if m.id and not m.fuzzy and all(
        m.string if isinstance(m.string, tuple) else [m.string]
    )}  # fmt: skip
    assert wanted <= translated, f"untranslated: {sorted(map(str, wanted - translated))[:10]}"
    for message in catalogue:
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        targets = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = {name for source in sources for name in PLACEHOLDER.findall(source)}
        for target in targets:
            assert set(PLACEHOLDER.findall(target)) == expected, (
                f"{sources[0]!r} -> {target!r}: the placeholders differ"
            )


def test_every_sentence_the_system_stores_in_english_reads_back_in_vietnamese() -> None:
    """A stored sentence (a pause reason, a row's error, why mail waits) is shown translated:
    each one parses back into its msgid, also inside another (`waiting: <why>; <why>`)."""
    from flask import Flask
    from flask_babel import Babel, force_locale, gettext

    from dashboard.mail import merge
    from dashboard.mail.sentences import english
    from dashboard.sending.stored_texts import (
        ACCOUNT_PROBLEM,
        LOGIN_REFUSED,
        SENTENCES,
        UNREACHABLE,
        translated,
    )

    app = Flask("dashboard")  # its translations folder is dashboard/translations
    Babel(app)
    names = re.compile(r"%\((\w+)\)s")
    with app.test_request_context(), force_locale("vi"):
        for msgid in SENTENCES:
            values = {name: f"<{name}>" for name in names.findall(msgid)}
            stored = english(msgid, **values)
            assert translated(stored) == gettext(msgid, **values), msgid
            if gettext(msgid) != msgid:
                assert translated(stored) != stored, msgid
        why = "; ".join(
            english(ACCOUNT_PROBLEM, target="smtp.example.vn:587", problem=problem, reply="421 x")
            for problem in (UNREACHABLE, LOGIN_REFUSED)
        )
        assert translated(english("waiting: %(why)s", why=why)) == (
            "đang chờ: tài khoản SMTP tại smtp.example.vn:587 không kết nối được (421 x); "
            "tài khoản SMTP tại smtp.example.vn:587 từ chối đăng nhập (421 x)"
        )
        assert translated("550 5.1.1 mailbox unknown") == "550 5.1.1 mailbox unknown"
        # A sentence with "; " of its own, inside another, reads whole.
        for refusal in (
            english(merge.TOO_LARGE, limit="1,048,576"),
            english(merge.NOT_IN_MERGE, line=2, what="{% for %}"),
        ):
            assert "; " in refusal
            stored = english("Not sent: %(why)s", why=refusal)
            assert translated(stored) == gettext("Not sent: %(why)s", why=translated(refusal))
            assert translated(refusal) != refusal and "; " in translated(refusal)
    with app.test_request_context(), force_locale("en"):
        assert translated(english("waiting: %(why)s", why=why)) == f"waiting: {why}"


# Addresses refused for each of the address checker's reasons that a person meets.
_BAD_ADDRESSES = (
    "an.example.vn",
    "@example.vn",
    "an@",
    "an..binh@example.vn",
    ".an@example.vn",
    "an.@example.vn",
    "an@.example.vn",
    "an@example..vn",
    "an@@example.vn",
    "an@ví_dụ.vn",
    "an binh@example.vn",
    "nguyễn@example.vn",
    "an@example.vn\u200b",
    "an\ufe6bexample.vn",
    '"an binh"@example.vn',
    "an@[192.0.2.1]",
    "an@-example.vn",
    "an@example-.vn",
    "an@localhost",
    "an@example.123",
    "an@" + "b" * 70 + ".vn",
    "an@" + ("b" * 60 + ".") * 5 + "vn",
)


@pytest.mark.parametrize("address", _BAD_ADDRESSES)
def test_every_reason_an_address_is_refused_reads_in_vietnamese(address: str) -> None:
    from flask import Flask
    from flask_babel import Babel, force_locale

    from dashboard.mail.addresses import AddressError
    from dashboard.mail.recipient_check import check_address
    from dashboard.sending.stored_texts import translated

    with pytest.raises(AddressError) as refused:
        check_address(address)
    app = Flask("dashboard")
    Babel(app)
    with app.test_request_context(), force_locale("vi"):
        said = translated(str(refused.value))
    english_words = ("@-sign", "address", "character", "period", "hyphen", "must", "cannot")
    assert not any(words in said.replace(address, "") for words in english_words), said
