"""Jinja's syntax errors said in the project's own words, so that a page can say them in its
reader's language: "unexpected end of template, expected 'end of print statement'." becomes
"the template ends where }} was expected". Jinja names the template's delimiters by words
("end of print statement"); the refusals show the delimiter a person types. A message of a
form not known here is kept as Jinja wrote it.
"""

from __future__ import annotations

import re

from dashboard.mail.sentences import N_, english

ENDS_EARLY = N_("the template ends where %(expected)s was expected")
EXPECTED_HERE = N_("%(expected)s was expected here, not %(token)s")
NOT_EXPECTED = N_("%(token)s was not expected here")
BAD_CHARACTER = N_("the character %(character)s cannot be used inside {{ }} or {%% %%}")
AFTER_DOT = N_("a name or a number was expected after the dot")
OPEN_COMMENT = N_("a comment opened with {# is not closed with #}")
# No placeholder, so no "%%": the sentence is used as it is.
OPEN_RAW = N_("{% raw %} is not closed with {% endraw %}")
UNCLOSED_BLOCK = N_("the template ends before {%% %(block)s %%} is closed (with %(tags)s)")
CLOSED_TOO_EARLY = N_("{%% %(tag)s %%} comes before {%% %(block)s %%} is closed (with %(tags)s)")
UNKNOWN_IN_BLOCK = N_("unknown tag {%% %(tag)s %%} inside {%% %(block)s %%} (expected %(tags)s)")
NO_OPEN_BLOCK = N_("{%% %(tag)s %%} has no open block to belong to")
UNKNOWN_TAG = N_("unknown tag {%% %(tag)s %%}")

# Jinja's words for a kind of token, as a refusal names it.
_DELIMITERS = {
    "begin of print statement": "{{",
    "end of print statement": "}}",
    "begin of statement block": "{%",
    "end of statement block": "%}",
    "begin of comment": "{#",
    "end of comment": "#}",
}
_TOKEN_WORDS = {
    "end of template": N_("the end of the template"),
    "expression": N_("a value"),
    "name": N_("a name"),
    "string": N_("a string"),
    "integer": N_("a number"),
    "float": N_("a number"),
    "comment": N_("a comment"),
    "template data / text": N_("the template's text"),
}
_CLOSING = ("end", "else", "elif")

_TAGS = r"(?P<tags>'\w+'(?: or '\w+')*)"
_INNERMOST = r" The innermost block that needs to be closed is '(?P<block>\w+)'\."
_FORMS = (
    (re.compile(r"unexpected end of template, expected '(?P<expected>.+)'\."), ENDS_EARLY),
    (re.compile(r"unexpected '(?P<token>.+)', expected '(?P<expected>.+)'"), EXPECTED_HERE),
    (re.compile(r"expected token '(?P<expected>.+)', got '(?P<token>.+)'"), EXPECTED_HERE),
    (re.compile(r"unexpected '(?P<token>.+)'"), NOT_EXPECTED),
    (re.compile(r"Expected an (?P<expected>expression), got '(?P<token>.+)'"), EXPECTED_HERE),
    (re.compile(r"unexpected char (?P<character>.+) at \d+"), BAD_CHARACTER),
    (re.compile(r"expected name or number"), AFTER_DOT),
    (re.compile(r"Missing end of comment tag"), OPEN_COMMENT),
    (re.compile(r"Missing end of raw directive"), OPEN_RAW),
    (
        re.compile(
            rf"Unexpected end of template\. Jinja was looking for the following tags: {_TAGS}\."
            + _INNERMOST
        ),
        UNCLOSED_BLOCK,
    ),
    (
        re.compile(
            r"Encountered unknown tag '(?P<tag>\w+)'\. You probably made a nesting mistake\. "
            rf"Jinja is expecting this tag, but currently looking for {_TAGS}\.{_INNERMOST}"
        ),
        CLOSED_TOO_EARLY,
    ),
    (
        re.compile(
            r"Encountered unknown tag '(?P<tag>\w+)'\. "
            rf"Jinja was looking for the following tags: {_TAGS}\.{_INNERMOST}"
        ),
        UNKNOWN_IN_BLOCK,
    ),
    (re.compile(r"Encountered unknown tag '(?P<tag>\w+)'\."), UNKNOWN_TAG),
)

# For `stored_texts.translated`: the sentences, then the words a token is named by.
SENTENCES = (
    *(msgid for _, msgid in _FORMS),
    NO_OPEN_BLOCK,
    *dict.fromkeys(_TOKEN_WORDS.values()),
)


def reworded(message: str) -> str:
    """Jinja's account of a syntax error in the project's words (English, a msgid filled in)."""
    for form, msgid in _FORMS:
        found = form.fullmatch(message)
        if found is None:
            continue
        values = found.groupdict()
        if msgid is UNKNOWN_TAG and values["tag"].startswith(_CLOSING):
            msgid = NO_OPEN_BLOCK
        for name in ("token", "expected"):
            if name in values:
                values[name] = _token(values[name])
        if "tags" in values:
            values["tags"] = " / ".join(
                "{% " + tag + " %}" for tag in re.findall(r"'(\w+)'", values["tags"])
            )
        return english(msgid, **values)
    return message


def _token(described: str) -> str:
    """A token as Jinja described it, as a refusal names it: a delimiter as typed, a kind of
    token in words, a name or an operator in quotes."""
    if described in _DELIMITERS:
        return _DELIMITERS[described]
    return _TOKEN_WORDS.get(described) or f"'{described}'"
