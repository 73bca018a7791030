# ruff: noqa: RUF001, SIM905  (look-alike letters and word lists are the point of this corpus)
"""Generated header text for the builder's round-trip tests: random Vietnamese (composed and
decomposed) and other Unicode at every length across the fold points, from a fixed seed.

Each value is one line of text a person could put in a subject or a name: no control characters
but the tab, no line separators (those are refused at submission, see `mail/headers.py`).
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator

SEED = 14

VIETNAMESE = (
    "Thông báo hoá đơn tháng 12 đã sẵn sàng Nguyễn Văn Trần Thị Lê Phạm Hoàng Huỳnh Võ Đặng "
    "Bùi Đỗ Hồ Ngô Dương Lý ưu đãi khuyến mãi xác nhận mật khẩu đơn hàng của quý khách giao "
    "hàng thành công Hà Nội Đà Nẵng Cần Thơ Huế Sài Gòn người gửi thư mời hội nghị năm "
    "Ngọc Quỳnh Khuê Tuyết Nhung Thuỷ Thuý Ỷ Ỹ Ữ ữ ợ ờ ở ỡ ớ ặ ẳ ẵ ằ ắ ậ ẩ ẫ ầ ấ"
).split()
OTHER_WORDS = [
    "東京都",
    "北京市",
    "你好世界",
    "こんにちは",
    "カタカナ",
    "한국어",
    "مرحبا",
    "بالعالم",
    "שלום",
    "עולם",
    "\u200fשלום\u200f",  # with right-to-left marks
    "Привет",
    "Ελληνικά",
    "हिन्दी",
    "ไทย",
    "e\u0301\u0323",  # stacked combining marks
    "a\u0308\u0304\u0301",
    "Z\u0351\u0317\u0353a\u0346\u0320l\u0350g\u0315o",
    "😀",
    "🎉",
    "👍🏽",
    "🇻🇳",
    "❤️",
    "👨\u200d👩\u200d👧\u200d👦",  # a ZWJ family
    "🏳️\u200d🌈",
    "🧑🏿\u200d💻",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "𠀀𠀁",  # CJK extension B (astral)
]
PUNCTUATION = [
    ",",
    ", ",
    '"',
    '"quoted"',
    "'",
    "\\",
    "\\\\",
    '\\"',
    "—",
    "–",
    "“",
    "”",
    "«",
    "»",
    "…",
    "✓",
    ":",
    ";",
    "(",
    ")",
    "<",
    ">",
    "@",
    "=?",
    "?=",
    "=?utf-8?b?",
    "%",
    "&",
    "#",
    "!",
    "?",
    ".",
    "[",
    "]",
]
ASCII_WORDS = "Invoice order ready your account password reset code Hello Smith John Jr.".split()
SPACES = [" ", " ", " ", " ", "  ", "   ", "\t", " \t ", "\u00a0", "\u3000"]
BRACES = ["{{ name }}", "{%", "}}", "{#"]

# Lengths in code points: every length to 200, and around the 998-character limit.
SHORT_LENGTHS = list(range(1, 201))
FOLD_LENGTHS = list(range(55, 86))  # where a first line of 78 ends, counted densely
LONG_LENGTHS = [400, 700, 900, 950, 980, 990, 995, 996, 997, 998]


def _word(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.45:
        word = rng.choice(VIETNAMESE)
        return unicodedata.normalize("NFD", word) if rng.random() < 0.4 else word
    if kind < 0.7:
        return rng.choice(OTHER_WORDS)
    if kind < 0.85:
        return rng.choice(PUNCTUATION)
    return rng.choice(ASCII_WORDS)


def text_of_length(rng: random.Random, length: int, *, braces: bool = True) -> str:
    """Random text of exactly `length` code points (cut anywhere: inside a ZWJ sequence, between
    a letter and its marks), words joined by single or multiple spaces, tabs, NBSP."""
    parts: list[str] = []
    size = 0
    if rng.random() < 0.15:
        parts.append(rng.choice(SPACES))  # leading whitespace
    while size < length:
        if braces and rng.random() < 0.03:
            parts.append(rng.choice(BRACES))
        parts.append(_word(rng))
        parts.append(rng.choice(SPACES) if rng.random() < 0.3 else " ")
        size = sum(map(len, parts))
    return "".join(parts)[:length]


def ascii_text_of_length(rng: random.Random, length: int) -> str:
    """Plain ASCII words, some longer than a line, to test folding without encoding."""
    words = []
    while sum(len(w) + 1 for w in words) < length:
        words.append("x" * rng.randint(60, 120) if rng.random() < 0.05 else rng.choice(ASCII_WORDS))
    return " ".join(words)[:length]


def lengths(rng: random.Random, count: int, *, long: bool = True) -> Iterator[int]:
    """`count` lengths: each short length once, then the fold region again, then long ones."""
    pool = SHORT_LENGTHS + FOLD_LENGTHS * 2 + (LONG_LENGTHS if long else [])
    rng.shuffle(pool)
    while True:
        for length in pool:
            yield length
            count -= 1
            if count <= 0:
                return


def corpus(
    count: int,
    *,
    seed: int = SEED,
    braces: bool = True,
    long: bool = True,
    ascii_share: float = 0.1,
) -> list[str]:
    """`count` values across every length, a share of them plain ASCII."""
    rng = random.Random(seed)
    return [
        ascii_text_of_length(rng, length)
        if rng.random() < ascii_share
        else text_of_length(rng, length, braces=braces)
        for length in lengths(rng, count, long=long)
    ]


def trimmed(values: list[str]) -> list[str]:
    """The values as a submission keeps them: a subject or a typed name loses the whitespace at
    its ends (`sending/requests.py`, `mail/addresses.py`); empty ones are dropped."""
    return [value.strip() for value in values if value.strip()]
