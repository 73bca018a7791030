"""Parsing and validating addresses as people type them: `Nguyễn Văn A <a@example.vn>`,
comma or newline separated."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from dashboard.mail.headers import (
    BidiControlError,
    HeaderInjectionError,
    check_header_value,
    check_no_bidi_controls,
)
from dashboard.mail.sentences import (
    NOT_A_VALID_ADDRESS,
    NOT_OF_THE_FORM,
    RECIPIENT_PROBLEM,
    THE_ADDRESS,
    THE_NAME,
    english,
)

_SEPARATORS = re.compile(r"[,;\n\r]")
_QUOTED_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
# `Name <local@domain>` whose name holds nothing the address parser reads specially (quotes,
# comments, brackets, `@ , ; : \`) and whose address is a plain dot-atom: what the parser
# answers for it is known beforehand (the name's words and the bracketed text), so such an
# entry, the usual one, skips the parser. Anything else takes the parser's path.
_PLAIN_NAME_ADDR = re.compile(
    r"([^\"()<>\[\]\\,;:@]*?)\s*<([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+)>"
)

# A subset of what email_validator accepts: a dot-atom local part without leading, trailing or
# doubled dots; domain labels of letters, digits and inner hyphens; an alphabetic top-level domain.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_SPECIAL_SUFFIXES = tuple("." + name for name in SPECIAL_USE_DOMAIN_NAMES)


@dataclass(frozen=True)
class Mailbox:
    """An address with an optional display name."""

    address: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


def plain_display_name(name: str) -> str:
    """A display name as mail carries it: words separated by single spaces, none at the ends.

    In a `To:` or `From:` header a name is a phrase, whose whitespace readers collapse (the
    standard library's parser turns a run of spaces or a tab into one space, even inside an
    encoded-word), so a name is stored and sent in that form: what History shows is what the
    recipient's client shows. (The CSV import keeps names the same way.)
    """
    return " ".join(name.split())


class AddressError(ValueError):
    """An address a person typed that cannot be used, with the reason in words."""


def split_address_list(text: str) -> list[str]:
    """Split on commas, semicolons and newlines that are not inside quotes or angle brackets."""
    if _SEPARATORS.search(text) is None:  # one entry (the usual case): nothing to walk
        return [text.strip()] if text.strip() else []
    items: list[str] = []
    current: list[str] = []
    in_quotes = in_angle = escaped = False
    for char in text:
        if escaped:  # `\"` inside quotes is a quote in the name, not its end
            escaped = False
        elif char == "\\" and in_quotes:
            escaped = True
        elif char == '"' and not in_angle:
            in_quotes = not in_quotes
        elif char == "<" and not in_quotes:
            in_angle = True
        elif char == ">" and not in_quotes:
            in_angle = False
        if char in ",;\n\r" and not in_quotes and not in_angle:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def parse_mailbox(text: str) -> Mailbox:
    """Parse one `Name <addr>` or bare `addr`, validating the address (syntax only, no DNS)."""
    text = text.strip()
    try:
        check_header_value(text, field=THE_ADDRESS)
    except HeaderInjectionError as error:
        raise AddressError(str(error)) from None
    name, addr = plain_name_and_address(text) or parsed_name_and_address(text)
    try:
        check_no_bidi_controls(name, field=THE_NAME)
    except BidiControlError as error:
        raise AddressError(f"'{addr}': {error}") from None
    return Mailbox(address=valid_address(addr), name=plain_display_name(name))


def valid_address(addr: str) -> str:
    """`addr` as email_validator normalises it (domain lower-cased, IDN as punycode; no DNS),
    or AddressError saying why it is not an address."""
    plain = plain_address(addr)
    if plain is not None:
        return plain
    try:
        valid = validate_email(addr, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise AddressError(english(NOT_A_VALID_ADDRESS, address=addr, reason=error)) from None
    return valid.ascii_email or valid.normalized


def plain_address(addr: str) -> str | None:
    """The normalised `addr` when it is a plain ASCII address that email_validator accepts as
    it is but for the domain's case (almost every real one), found without it (it costs about
    40 µs an address); None for any other text, which email_validator must judge."""
    match = _PLAIN_ADDRESS.fullmatch(addr)
    if match is None or len(addr) > 254 or addr.index("@") > 64:
        return None
    domain = match.group(1).lower()
    if domain.endswith(_SPECIAL_SUFFIXES):
        return None
    return addr[: match.start(1)] + domain


def plain_name_and_address(text: str) -> tuple[str, str] | None:
    """(name, address) of a plain `Name <local@domain>`, as `parsed_name_and_address` reads
    it but for the name's whitespace (which its plain form collapses anyway); None for
    anything else."""
    found = _PLAIN_NAME_ADDR.fullmatch(text)
    return (found[1], found[2]) if found is not None else None


def parsed_name_and_address(text: str) -> tuple[str, str]:
    """(name, address) of `Name <addr>` or a bare `addr`, by the standard library's parser, or
    AddressError when what it reads is not what a person sees."""
    if "<" not in text and '"' not in text:
        return "", text
    name, addr = parseaddr(text)
    head, _, bracketed = text[:-1].rpartition("<")
    # parseaddr reads `Bcc: x@a.example <y@b.example>` as x@a: the address must be the
    # one between the brackets, or what is sent is not what the person sees. A `<` may
    # appear only inside the quoted name.
    unquoted = _QUOTED_STRING.sub("", head)
    if (
        not addr
        or not text.endswith(">")
        or "<" in unquoted
        or ">" in unquoted
        or addr != bracketed.strip()
    ):
        raise AddressError(english(NOT_OF_THE_FORM, text=text))
    return name, addr


def parse_address_list(text: str) -> list[Mailbox]:
    """Parse a list typed by a person; raise AddressError naming every bad entry."""
    return parse_mailboxes(split_address_list(text))


def parse_mailboxes(items: Iterable[str]) -> list[Mailbox]:
    """Parse one address per item; raise AddressError naming every bad entry by position."""
    mailboxes: list[Mailbox] = []
    problems: list[str] = []
    for position, item in enumerate(items, start=1):
        try:
            mailboxes.append(parse_mailbox(item))
        except AddressError as error:
            problems.append(english(RECIPIENT_PROBLEM, position=position, problem=error))
    if problems:
        raise AddressError("; ".join(problems))
    return mailboxes
