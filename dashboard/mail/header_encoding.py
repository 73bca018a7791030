"""Header fields as the builder writes them: exactly the text given, within the line limits.

A value goes on the wire as it is when it is plain ASCII that a parser reads back unchanged
(single spaces between words, none at either end, no `=?`); otherwise as RFC 2047 base64
encoded-words, which carry every character verbatim: runs of spaces, tabs, spaces at either end,
combining marks, emoji, right-to-left text, commas and quotes. (A display name is single-spaced
first: in a phrase, readers collapse whitespace whatever the encoding; and its encoded-words
are written side by side, see `mailbox_header`.) Encoded-words are cut between
code points, sized so that each line stays within 78 characters (RFC 5322's SHOULD) and each
word within 75 (RFC 2047); the whitespace between two encoded-words is not part of the text,
so a fold can fall anywhere without adding or losing a character. A line that could still pass
998 octets (RFC 5322's MUST) is refused, naming the field, never sent.
"""

from __future__ import annotations

from binascii import b2a_base64

from dashboard.mail.addresses import Mailbox, plain_display_name
from dashboard.mail.headers import HeaderInjectionError, check_header_value

CRLF = b"\r\n"
FOLD_AT = 78  # RFC 5322 2.1.1: a line SHOULD stay within 78 characters
LINE_LIMIT = 998  # RFC 5322 2.1.1: a line MUST stay within 998
_WORD_OVERHEAD = len("=?utf-8?b?") + len("?=")
_MAX_WORD_BYTES = 45  # 60 base64 characters: a 72-character word, within RFC 2047's 75
# RFC 5322 atext: a display name of these words, single-spaced, needs neither quotes nor encoding.
_ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)


_ATEXT_OR_SPACE = _ATEXT | {" "}


def _quoted(display: str) -> str:
    return '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'


class HeaderTooLongError(HeaderInjectionError):
    """A header field that no legal fold brings within 998 octets a line."""


def _word_bytes(room: int) -> int:
    """The most UTF-8 bytes an encoded-word may carry to be at most `room` characters long."""
    return max(3, min(_MAX_WORD_BYTES, (room - _WORD_OVERHEAD) // 4 * 3))


def _encode(chunk: bytes) -> str:
    return "=?utf-8?b?" + b2a_base64(chunk, newline=False).decode("ascii") + "?="


def encoded_words(text: str, first_room: int = FOLD_AT - 1) -> list[str]:
    """`text` as RFC 2047 base64 encoded-words, cut between code points, never inside one; the
    first word fits in `first_room` characters, the others on a continuation line."""
    data = text.encode("utf-8")
    budget = _word_bytes(first_room)
    if len(data) <= budget:  # the usual name or subject: one word
        return [_encode(data)]
    words: list[str] = []
    start, end = 0, len(data)
    while start < end:
        cut = start + budget
        if cut >= end:
            cut = end
        else:
            while data[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: inside a code point
                cut -= 1
            if cut == start:  # one code point wider than the room: it goes whole
                cut += 1
                while cut < end and data[cut] & 0xC0 == 0x80:
                    cut += 1
        words.append(_encode(data[start:cut]))
        start, budget = cut, _MAX_WORD_BYTES
    return words


def _reads_back_plain(text: str, room: int) -> bool:
    """Whether `text` can go as it is: printable ASCII that no parser would change, in words
    that each fit on a line."""
    return (
        text.isascii()
        and text.isprintable()
        and "=?" not in text
        and "  " not in text
        and text == text.strip(" ")
        and all(len(word) <= room for word in text.split(" "))
    )


def fold(words: list[str], first_line_used: int) -> str:
    """Join words with spaces, starting a continuation line where a line would pass 78."""
    lines: list[str] = []
    current: list[str] = []
    used = first_line_used
    for word in words:
        if current and used + 1 + len(word) > FOLD_AT:
            lines.append(" ".join(current))
            current, used = [], 1
        used += len(word) + (1 if current else 0)
        current.append(word)
    lines.append(" ".join(current))
    return "\r\n ".join(lines)


def header_line(name: str, value: str, *, field: str | None = None) -> bytes:
    """`Name: value` with CRLF; refused if a line of it would pass 998 octets."""
    line = f"{name}: {value}"
    if len(line) > LINE_LIMIT and max(map(len, line.split("\r\n"))) > LINE_LIMIT:
        raise HeaderTooLongError(
            f"{field or name} is too long to be written in an email header (once encoded, a "
            f"line of it would pass {LINE_LIMIT} characters)"
        )
    return line.encode("ascii") + CRLF


def subject_header(subject: str) -> bytes:
    """`Subject: ...` with CRLF: plain when that reads back unchanged, else encoded-words."""
    check_header_value(subject, field="subject")
    room = FOLD_AT - len("Subject: ")
    words = subject.split(" ") if _reads_back_plain(subject, room) else encoded_words(subject, room)
    return header_line("Subject", fold(words, len("Subject: ")), field="subject")


def mailbox_header(name: str, mailbox: Mailbox) -> bytes:
    """`To: Name <addr>` with CRLF: the name (single-spaced, see `plain_display_name`) as atoms,
    a quoted string or encoded-words, whichever reads back as exactly that name.

    A name of several encoded-words has them side by side with no space between: readers
    disagree on a space between two encoded-words in a name (RFC 2047 ignores it, the standard
    library's parser reads it as a space), and none of them adds one where there is none. Such
    a line is not folded; past 998 octets the name is refused.
    """
    field = name.lower()
    display = plain_display_name(check_header_value(mailbox.name, field=f"{field} name"))
    address = check_header_value(mailbox.address, field=f"{field} address")
    used = len(name) + 2
    if not display:
        return header_line(name, address, field=f"{field} address")
    room = FOLD_AT - used
    if not display.isascii():  # the usual name for this dispatcher's users
        words = ["".join(encoded_words(display))]
    elif _reads_back_plain(display, room) and _ATEXT_OR_SPACE.issuperset(display):
        words = display.split(" ")
    elif display.isprintable() and "=?" not in display and len(_quoted(display)) <= room:
        words = [_quoted(display)]  # ASCII with specials (commas, quotes, a backslash): quoted
    else:
        words = ["".join(encoded_words(display))]
    return header_line(name, fold([*words, f"<{address}>"], used), field=f"{field} name")
