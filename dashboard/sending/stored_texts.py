"""Sentences the system writes in English and shows in its reader's language.

What it stores (pause reasons, the reply column of a message it did not send, why an account is
held) stays English, so the API, the logs and every reader see one stable text; and the mail
layer, which knows no Flask, words its refusals in English too. Each sentence is a msgid with
named placeholders: the writer fills it in with `english`; a page or an API answer turns the
text back into the msgid and its values with `translated`. Values that are sentences of their
own (`why`, `problem`, ...) are translated too; anything else (an SMTP server's reply, a name)
stays as written, and a text that matches no msgid is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache

from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l

from dashboard.mail import merge
from dashboard.mail import sentences as mail_sentences
from dashboard.mail.merge import TemplateProblem
from dashboard.mail.sentences import N_

PAUSED_BY_A_PERSON = N_("Paused by a person.")
PAUSED_FOR_FAILURES = N_(
    "Paused by the failure guard: %(failures)s of the last %(window)s attempts were refused "
    "with a 5xx reply (the limit is %(percent)s%%). Check the SMTP account and the list, "
    "then resume."
)
PAUSED_FOR_BOUNCES = N_(
    "Paused by the failure guard: %(bounced)s of %(delivered)s delivered messages bounced "
    "(the limit is %(percent)s%%). Clean the list, then resume."
)
ACCOUNT_PROBLEM = N_("the SMTP account at %(target)s %(problem)s (%(reply)s)")
NAMED_ACCOUNT_PROBLEM = N_("the SMTP account %(account)s at %(target)s %(problem)s (%(reply)s)")
LOGIN_REFUSED = N_("refuses the login")
UNREACHABLE = N_("cannot be reached")
# No parentheses: the sentence it goes in holds the reply in parentheses after it.
NO_LOGIN_OFFERED = N_(
    "offers no login on this port and TLS setting: use its submission port, 587 with "
    "STARTTLS, or leave the user name empty"
)

# Written by the sending worker and the sweeper: the reply column of a message that waits or
# was given up on, not an SMTP server's words.
_WRITTEN_BY_WORKERS = (
    N_("waiting: the rate limit store is unreachable (%(error)s)"),
    N_("waiting for the next sending window: %(why)s"),
    N_("waiting: %(why)s"),
    N_("today's quota is used up for %(accounts)s"),
    N_("the daily quota of %(count)s messages is used up"),
    N_(
        "campaigns' share of the daily quota (%(share)s of %(count)s messages; %(kept)s are "
        "kept for single emails) is used up"
    ),
    N_("Not sent: the address is on the suppression list."),
    N_("Not sent: the %(field)s template: %(why)s"),
    N_("Not sent: %(why)s"),
    N_("was still sending when its worker stopped; resent once (it may arrive twice)"),
    N_("stuck in sending again after one resend; not resent a second time"),
    N_("its worker died mid-batch; resent once (it may arrive twice)"),
    N_("worker error: %(error)s"),
)

# A campaign file's import: why a row was left out, why a whole file was refused (stored with
# the import, which a worker runs).
ROW_TOO_WIDE = N_(
    "%(fields)s fields but the header has %(width)s (a value with a '%(delimiter)s' in it "
    "needs quotes)"
)
ROW_TOO_SHORT = N_(
    "%(fields)s fields but the header has %(width)s (a field is missing: an empty value still "
    "needs its '%(delimiter)s')"
)
ROW_OF_ONE_FIELD = N_(
    "1 field but the header has %(width)s (a field is missing: an empty value still needs its "
    "'%(delimiter)s')"
)
ROW_NOT_DECODED = N_("contains bytes that are not valid %(encoding)s")
ROW_BIDI_NAME = N_(
    "the name contains a bidirectional control character (U+202E and the like), which changes "
    "the order in which the text is shown: a name or file name could pass for another"
)
SAVE_AS_UTF8 = N_(
    "In Excel choose 'CSV UTF-8' when saving; Google Sheets' CSV download is already UTF-8."
)
FILE_TOO_LONG = N_(
    "The file has more than %(rows)s rows (CSV_MAX_ROWS); split it into smaller files. Nothing "
    "was imported."
)
FILE_BINARY = N_(
    "This is not a CSV text file (it contains binary data). Export the sheet as CSV: in Excel, "
    "File → Save As → 'CSV UTF-8'; in Google Sheets, File → Download → CSV."
)
FILE_NOT_DECODED = N_(
    "The file is not UTF-8, UTF-16 or Windows-1258 text (byte %(byte)s at position "
    "%(position)s cannot be read). %(why)s"
)
FILE_NOT_VIETNAMESE = N_(
    "The file is not UTF-8 or UTF-16, and read as Windows-1258 (Vietnamese) it has "
    "'%(letter)s', which is not a Vietnamese letter: it was saved in another encoding. %(why)s"
)
FILE_NOT_UNICODE = N_(
    "The file is not UTF-8 or UTF-16 text (byte %(byte)s at position %(position)s cannot be "
    "read). %(why)s"
)
FILE_EMPTY = N_("The file is empty: it needs a header row with an 'email' column.")
FILE_CONTROL_CHARACTERS = N_(
    "This does not look like a CSV text file (it contains control characters). Export the "
    "sheet as CSV and upload that."
)
NO_EMAIL_COLUMN = N_(
    "The first row must be a header with an 'email' column; this file's first row has "
    "%(cells)s. Add a header row whose email column is called 'email'."
)
NOTHING = N_("nothing")
TOO_MANY_COLUMNS = N_(
    "The header row has %(count)s columns; at most %(limit)s are read (CSV_MAX_FIELDS). Remove "
    "the columns the emails do not use."
)
SAME_COLUMN_NAME = N_(
    "Columns %(first)s and %(second)s are both called '%(name)s' (case and spacing ignored); "
    "rename one of them."
)
RECORD_TOO_LONG = N_(
    "The record ending on line %(line)s (or after it) is longer than %(limit)s KB "
    "(CSV_MAX_ROW_KB); nothing was imported. Is a quote left open, or a row far wider than the "
    "header?"
)
LINE_UNREADABLE = N_("Line %(line)s cannot be read (%(error)s); nothing was imported.")
NOT_A_WORKBOOK = N_(
    "This .xlsx file is not an Excel workbook (it cannot be opened as one). Save it again from "
    "Excel, or export the sheet as 'CSV UTF-8'."
)
WORKBOOK_BOMB = N_(
    "This workbook unpacks to far more than its size; it is refused. Export the sheet as "
    "'CSV UTF-8' and upload that."
)
WORKBOOK_UNREADABLE = N_(
    "This workbook cannot be read (%(error)s). Save it again from Excel, or export the sheet "
    "as 'CSV UTF-8'."
)
ROW_TOO_MANY_CELLS = N_(
    "Row %(row)s has %(count)s cells; at most %(limit)s are read (CSV_MAX_FIELDS). Remove the "
    "columns the emails do not use."
)
ROW_TOO_LONG = N_("Row %(row)s is longer than %(limit)s KB (CSV_MAX_ROW_KB); nothing was imported.")
SHEET_EMPTY = N_(
    "The workbook's first sheet is empty: it needs a header row with an 'email' column."
)
_IMPORTS = (
    ROW_TOO_WIDE,
    ROW_TOO_SHORT,
    ROW_OF_ONE_FIELD,
    ROW_NOT_DECODED,
    ROW_BIDI_NAME,
    SAVE_AS_UTF8,
    FILE_TOO_LONG,
    FILE_BINARY,
    FILE_NOT_DECODED,
    FILE_NOT_VIETNAMESE,
    FILE_NOT_UNICODE,
    FILE_EMPTY,
    FILE_CONTROL_CHARACTERS,
    NO_EMAIL_COLUMN,
    TOO_MANY_COLUMNS,
    SAME_COLUMN_NAME,
    RECORD_TOO_LONG,
    LINE_UNREADABLE,
    NOT_A_WORKBOOK,
    WORKBOOK_BOMB,
    WORKBOOK_UNREADABLE,
    ROW_TOO_MANY_CELLS,
    ROW_TOO_LONG,
    SHEET_EMPTY,
)

# What the audit trail names: its targets.
_AUDIT_TARGETS = (
    N_("campaign %(id)s"),
    N_("message %(id)s"),
    N_("user %(id)s"),
    N_("token %(id)s"),
    N_("webhook %(id)s"),
    N_("sending account %(name)s"),
    N_("account pool %(name)s"),
    N_("of campaign %(id)s"),
    N_("%(count)s event(s)"),
)

# What the services write as an audit event's detail. Read only there: patterns this general
# ("%(email)s as %(role)s") would take other stored sentences apart.
_AUDIT_DETAILS = (
    N_("%(count)s recipient(s) from %(source)s, due %(time)s UTC"),
    N_("%(count)s recipient(s) from %(source)s"),
    N_("%(count)s recipient(s) confirmed, due %(time)s UTC"),
    N_("%(count)s recipient(s) confirmed"),
    N_("to %(time)s UTC"),
    N_("%(count)s address(es), %(reason)s, message %(id)s"),
    N_("%(count)s address(es), %(reason)s"),
    N_("%(email)s as the first admin"),
    N_("%(email)s as %(role)s"),
    N_("no such account"),
    N_("wrong password"),
    N_("account disabled"),
    N_("'%(name)s' for %(email)s"),
    N_("'%(name)s' of %(email)s"),
)
# Details only one action writes, read only for its events.
_ACTION_DETAILS = {
    "role-changed": (N_("%(email)s: %(old_role)s to %(new_role)s"),),
}

SENTENCES = (
    PAUSED_BY_A_PERSON,
    PAUSED_FOR_FAILURES,
    PAUSED_FOR_BOUNCES,
    NAMED_ACCOUNT_PROBLEM,
    ACCOUNT_PROBLEM,
    LOGIN_REFUSED,
    UNREACHABLE,
    NO_LOGIN_OFFERED,
    *_WRITTEN_BY_WORKERS,
    *_AUDIT_TARGETS,
    *_IMPORTS,
    *mail_sentences.SENTENCES,
    *merge.SENTENCES,
)
# Values that are sentences of their own; `why` and `problem` may join several with "; ".
_NESTED = {"why", "problem", "field", "what", "reason", "token", "expected"}
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


@cache
def _pattern(msgid: str) -> re.Pattern[str]:
    parts, end = [], 0
    for found in _PLACEHOLDER.finditer(msgid):
        parts.append(re.escape(msgid[end : found.start()]))
        parts.append(f"(?P<{found.group(1)}>.*?)" if found.group(1) else "%")
        end = found.end()
    parts.append(re.escape(msgid[end:]))
    return re.compile("".join(parts), re.DOTALL)


def translated_joined(problems: Iterable[object]) -> str:
    """Several problems, each in the reader's language, joined by "; "."""
    return "; ".join(translated(str(problem)) for problem in problems)


def template_field_problems(error: TemplateProblem) -> dict[str, str]:
    """A template's problems in the reader's language, by the field each is in."""
    return {problem.field: translated(str(problem)) for problem in error.each()}


def template_problem(problem: TemplateProblem) -> str:
    """A template's problem in the reader's language, after the part it is in."""
    parts = {"subject": _l("Subject"), "text": _l("Text body"), "html": _l("HTML body")}
    return f"{parts.get(problem.field, problem.field)}: {translated(str(problem))}"


def audit_detail(
    stored: str | None,
    action: str | None = None,
    labels: Mapping[str, Callable[[str], str]] | None = None,
) -> str:
    """An audit event's detail in the reader's language, where it is one of ours. `labels`
    name the codes a detail holds (a role, where recipients came from) in that language, by
    their placeholder; a value no label knows is translated as a sentence, or left as it is."""
    sentences = (*_ACTION_DETAILS.get(action or "", ()), *_AUDIT_DETAILS, *SENTENCES)
    return _translated(stored, sentences, labels or {})


def translated(stored: str | None) -> str:
    """A stored sentence in the reader's language; as stored when it is not one of ours."""
    return _translated(stored, SENTENCES)


def _translated(
    stored: str | None,
    sentences: tuple[str, ...],
    labels: Mapping[str, Callable[[str], str]] | None = None,
) -> str:
    if not stored:
        return stored or ""
    if str(get_locale() or "en") == "en":  # already in its reader's language
        return stored
    found = _sentence_of(stored, sentences)
    if found is None:
        return stored
    msgid, match = found
    values = {name: _value(name, value, labels or {}) for name, value in match.groupdict().items()}
    return gettext(msgid, **values) if values else gettext(msgid)


def _sentence_of(
    stored: str, sentences: tuple[str, ...] = SENTENCES
) -> tuple[str, re.Match[str]] | None:
    """The first of `sentences` that `stored` is, with its values; None for none."""
    for msgid in sentences:
        found = _pattern(msgid).fullmatch(stored)
        if found is not None:
            return msgid, found
    return None


def _value(name: str, value: str, labels: Mapping[str, Callable[[str], str]]) -> str:
    """A placeholder's value in the reader's language: a code by its label, a sentence of ours
    translated, anything else as written."""
    label = labels.get(name)
    if label is not None:
        named = label(value)
        if named != value:
            return named
    if name in _NESTED:
        parts = value.split("; ")
        # Several sentences joined, unless a part is none of ours and the whole is one (a
        # sentence with "; " of its own).
        if len(parts) > 1 and not all(map(_sentence_of, parts)) and _sentence_of(value):
            return translated(value)
        return "; ".join(translated(part) for part in parts)
    return value
