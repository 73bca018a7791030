"""The plain `Name <local@domain>` entry skips the standard library's address parser, and a plain
ASCII address skips email_validator: for every text those paths take, what comes out (the
mailbox, or the refusal and its words) is what the slow path gives. Random names and addresses
from pieces that matter to the parser (quotes, comments, brackets, dots, separators, Unicode
whitespace and letters, bidi controls, special-use domains), and the Unicode corpus the header
tests use."""

from __future__ import annotations

from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.mail import addresses
from dashboard.mail.addresses import (
    AddressError,
    parse_mailbox,
    parsed_name_and_address,
    plain_address,
    plain_name_and_address,
    split_address_list,
)
from tests.unicode_corpus import corpus

EXAMPLES = settings(
    max_examples=1500,
    deadline=timedelta(milliseconds=500),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

_NAME_PIECES = [
    "Nguyễn",
    "Văn",
    "An",
    "O'Brien",
    "Dr.",
    ".",
    " ",
    "  ",
    "\t",
    "\u00a0",
    "\u3000",
    "\u200f",
    "\u202e",
    '"',
    "\\",
    "(",
    ")",
    "[",
    "]",
    ",",
    ";",
    ":",
    "@",
    "<",
    ">",
    "=?utf-8?b?w6k=?=",
    "😀",
    "x",
]
_ADDRESS_PIECES = ["an", "a.b", ".", "..", "-", "_", "+", "@", "example.com", "ví.dụ", "x", "1", ""]


def _answer_without(fast_path: str, text: str) -> object:
    """parse_mailbox's answer with one of its fast paths (a function of `addresses` that
    answers None for what it leaves to the slow way) switched off."""
    kept = getattr(addresses, fast_path)
    setattr(addresses, fast_path, lambda _text: None)
    try:
        return _answer(text)
    finally:
        setattr(addresses, fast_path, kept)


def _answer(text: str) -> object:
    try:
        return parse_mailbox(text)
    except AddressError as error:
        return ("refused", str(error))


@EXAMPLES
@given(
    name=st.lists(st.sampled_from(_NAME_PIECES), max_size=6).map("".join),
    address=st.lists(st.sampled_from(_ADDRESS_PIECES), max_size=5).map("".join),
    gap=st.sampled_from(["", " ", "  ", "\t"]),
)
def test_a_plain_entry_parses_as_the_parser_reads_it(name: str, address: str, gap: str) -> None:
    text = f"{name}{gap}<{address}>"
    assert _answer(text) == _answer_without("plain_name_and_address", text)
    plain = plain_name_and_address(text.strip())
    if plain is not None:
        parsed_name, parsed_address = parsed_name_and_address(text.strip())
        assert plain[1] == parsed_address
        assert plain[0].split() == parsed_name.split()


def test_corpus_names_parse_as_the_parser_reads_them() -> None:
    taken = 0
    for name in corpus(600, braces=False, long=False):
        for text in (f"{name} <a.b@example.com>", f"{name}<x@ví-dụ.vn>", f"  {name}  <x@y>  "):
            assert _answer(text) == _answer_without("plain_name_and_address", text), text
            taken += plain_name_and_address(text.strip()) is not None
    assert taken > 100  # the plain path is the usual one


@EXAMPLES
@given(st.lists(st.sampled_from([*_NAME_PIECES, "a@b.c", "<a@b.c>", "\n", "\r"]), max_size=8))
def test_a_list_with_one_entry_splits_as_the_walk_does(pieces: list[str]) -> None:
    text = "".join(pieces)
    walked = addresses._SEPARATORS
    try:
        addresses._SEPARATORS = _AlwaysFound()
        by_walking = split_address_list(text)
    finally:
        addresses._SEPARATORS = walked
    assert split_address_list(text) == by_walking


class _AlwaysFound:
    """Stands in for the separator pattern so that every text takes the character walk."""

    def search(self, _text: str) -> bool:
        return True


_DOMAIN_PIECES = ["example", "Example", "EXAMPLE", ".", "..", "-", "com", "COM", "vn", "ví", "dụ"]
_DOMAIN_PIECES += ["local", "test", "invalid", "localhost", "1", "x" * 63, "x" * 64, "_", "a"]


@EXAMPLES
@given(
    local=st.lists(
        st.sampled_from(["an", "A.B", ".", "..", "+tag", "'", "x" * 64, "é", '"q"', " ", ""]),
        max_size=4,
    ).map("".join),
    domain=st.lists(st.sampled_from(_DOMAIN_PIECES), max_size=6).map("".join),
)
def test_a_plain_address_is_what_email_validator_makes_of_it(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    plain = plain_address(address)
    if plain is not None:
        valid = validate_email(address, check_deliverability=False, allow_smtputf8=False)
        assert plain == (valid.ascii_email or valid.normalized)
    text = f"Nguyễn Văn An <{address}>"
    assert _answer(text) == _answer_without("plain_address", text)


def test_corpus_addresses_check_as_email_validator_does() -> None:
    for name in corpus(300, braces=False, long=False):
        for address in (f"{name}@example.com", f"a@{name}.vn", name):
            plain = plain_address(address)
            try:
                valid = validate_email(address, check_deliverability=False, allow_smtputf8=False)
            except EmailNotValidError:
                assert plain is None, address
                continue
            assert plain in (None, valid.ascii_email or valid.normalized), address
