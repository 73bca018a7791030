"""Quoted-printable bodies, with the text every recipient shares encoded once.

A body is the text as given (CR LF, CR and LF all line breaks), as UTF-8 quoted-printable with
CRLF line ends, ending in a line break, soft breaks where `binascii.b2a_qp` puts them. That
encoder works a line at a time (what it does to a character depends on the line it is in
only), so the encoding of a text is the encodings of its lines end to end. The complete lines
inside a literal piece of a body (the text of a template between two values) are encoded once,
with the skeleton; for each message only the lines that hold a value are encoded, those of all
its bodies in one call.
"""

from __future__ import annotations

import re
from binascii import b2a_qp
from collections.abc import Iterable, Sequence

from dashboard.mail.dot_stuffing import double_dots
from dashboard.mail.layout import Filled, Layout

# A line break as the normalising replaces read one: CR LF, or CR or LF alone. A CR that ends a
# piece may be the first half of a CR LF split between two pieces: it is not taken for one.
_BREAK = re.compile(r"\r\n|\r(?!\Z)|\n")
# Between the runs of text encoded in one call: a line of one NUL, which b2a_qp writes `=00`.
_SEPARATOR = "\x00\n"
_ENCODED_SEPARATOR = b"=00\r\n"

# A body: a string, the pieces it is made of, or a layout filled with values.
Body = str | Iterable[str]


def _encode(text: str) -> bytes:
    """Whole lines of text as quoted-printable with CRLF line ends."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return b2a_qp(text.encode("utf-8")).replace(b"\n", b"\r\n")


def _split(piece: str) -> tuple[str, bytes, str] | None:
    """A piece's text up to and with its first line break, the lines after that up to and with
    its last encoded, and the text after its last; None for fewer than two line breaks."""
    breaks = [match.end() for match in _BREAK.finditer(piece)]
    if len(breaks) < 2:
        return None
    first, last = breaks[0], breaks[-1]
    return piece[:first], _encode(piece[first:last]), piece[last:]


def _escaped(text: str) -> str:
    return text.replace("%", "%%")


class _Plan:
    """A layout's text as runs to fill and encode (a %-format, runs joined by the separator)
    and the lines between the runs, encoded, and encoded with their leading dots doubled."""

    __slots__ = ("doubled", "format", "lines")

    def __init__(self, layout: Layout) -> None:
        runs: list[str] = []
        lines: list[bytes] = []
        run: list[str] = []
        for index, literal in enumerate(layout.literals):
            if index:
                run.append("%s")
            split = _split(literal)
            if split is None:
                run.append(_escaped(literal))
            else:
                run.append(_escaped(split[0]))
                runs.append("".join(run))
                lines.append(split[1])
                run = [_escaped(split[2])]
        runs.append("".join(run))
        self.format = _SEPARATOR.join(runs)
        self.lines = tuple(lines)
        self.doubled = tuple(double_dots(encoded) for encoded in lines)


class BodyEncoder:
    """Quoted-printable for the bodies of one campaign's messages. `literals` are pieces the
    bodies are made of for every recipient; a filled layout's literals are known by its layout.
    The lines they hold whole are encoded once; any other piece is encoded as it comes."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        self._splits = {piece: split for piece in literals if (split := _split(piece))}
        # The encoded lines of each split with their leading dots doubled, by the same key.
        self._doubled = {piece: double_dots(split[1]) for piece, split in self._splits.items()}
        self._plans: dict[Layout, _Plan] = {}

    def encode(self, *bodies: Body, dots_doubled: bool = False) -> list[bytes]:
        """Each body as quoted-printable; with `dots_doubled`, as it goes after SMTP's DATA
        (`dot_stuffing`): the shared lines were doubled once, the rest is searched here. Each
        piece of a body starts a line: a run follows a line break, and so do the shared lines."""
        texts: list[str] = []  # per body, its runs to encode, joined by the separator
        shared: list[Sequence[bytes]] = []  # per body, the encoded lines between its runs
        for body in bodies:
            if type(body) is Filled:
                plan = self._plans.get(body.layout) or self._plan(body.layout)
                text = plan.format % body.values
                lines = plan.doubled if dots_doubled else plan.lines
            else:
                runs, lines = self._runs(body, dots_doubled)
                text = _SEPARATOR.join(runs)
            if not text.endswith(("\n", "\r")):
                text += "\n"  # a text part ends a line (an empty body is one empty line)
            texts.append(text)
            shared.append(lines)
        parts = _encode(_SEPARATOR.join(texts)).split(_ENCODED_SEPARATOR)
        if len(parts) != sum(len(lines) + 1 for lines in shared):
            # A line of the text ends in a NUL.
            alone = [self._alone(body) for body in bodies]
            return [double_dots(body) for body in alone] if dots_doubled else alone
        if dots_doubled:
            parts = [double_dots(part) for part in parts]
        results = []
        start = 0
        for lines in shared:
            end = start + len(lines) + 1
            chunks = [b""] * (end - start + len(lines))
            chunks[0::2] = parts[start:end]
            chunks[1::2] = lines
            results.append(b"".join(chunks))
            start = end
        return results

    def _plan(self, layout: Layout) -> _Plan:
        plan = self._plans[layout] = _Plan(layout)
        return plan

    def _runs(self, body: Body, dots_doubled: bool = False) -> tuple[list[str], list[bytes]]:
        """The text of a body to encode, in runs, and the encoded lines between them (their
        dots doubled with `dots_doubled`)."""
        runs: list[str] = []
        lines: list[bytes] = []
        run: list[str] = []
        lookup = self._splits.get
        for piece in (body,) if isinstance(body, str) else body:
            split = lookup(piece)
            if split is None:
                run.append(piece)
            else:
                run.append(split[0])
                runs.append("".join(run))
                lines.append(self._doubled[piece] if dots_doubled else split[1])
                run = [split[2]]
        runs.append("".join(run))
        return runs, lines

    def _alone(self, body: Body) -> bytes:
        """A body whose runs are encoded one call each."""
        runs, lines = self._runs(body)
        if not runs[-1].endswith(("\n", "\r")) and (runs[-1] or not lines):
            runs[-1] += "\n"
        chunks = [_encode(runs[0])]
        for encoded, run in zip(lines, runs[1:], strict=True):
            chunks += (encoded, _encode(run))
        return b"".join(chunks)
