"""A workbook's shared strings (`xl/sharedStrings.xml`, where Excel keeps every text of its
cells), read only as far as the sheet asks and kept out of memory.

openpyxl reads the whole part into a list of Python strings when the workbook is opened: for
a million-row sheet, two million texts, 90 s and ~500 MB before the first row, in the upload's
header read and again in the import. Excel writes the strings in the order they first occur in
the sheet, so the header needs the first few and the import the next ones as its rows go. Here
the part is parsed (expat) a chunk at a time until the index asked for is read; the texts go,
as UTF-8, to a temporary file a few megabytes at a time, and memory keeps only where each one
ends (4 bytes a text: 8 MB for two million, where the texts themselves were 42 MB).
"""

from __future__ import annotations

import os
import tempfile
from array import array
from typing import IO
from xml.parsers import expat

from openpyxl.xml.constants import SHEET_MAIN_NS

_CHUNK_BYTES = 64 * 1024
_SPILL_BYTES = 4 * 1024 * 1024  # texts kept in memory before they go to the file
_STRING = f"{SHEET_MAIN_NS} si"  # expat's name for <si> with namespace_separator=" "


class DamagedSharedStrings(ValueError):
    """The shared-strings part is not what Excel writes (a DTD, or an index past its end)."""


class SharedStrings:
    """The shared-string table openpyxl's sheet reader indexes (`strings[int(v)]`), each text
    what openpyxl's own `read_string_table` gives: the <si>'s <t>, then the <t> of each
    rich-text run (<r>), phonetic runs (<rPh>) left out, whitespace kept, `x005F_` removed."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self._spilled: IO[bytes] | None = None
        self._spilled_bytes = 0  # the texts before this offset are in the file
        self._recent = bytearray()  # the texts after it
        self._ends = array("I")
        self._finished = False
        self._parser = expat.ParserCreate(namespace_separator=" ")
        self._parser.buffer_text = True
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.CharacterDataHandler = self._characters
        self._parser.StartDoctypeDeclHandler = self._refuse_doctype
        # The <si> being read: element depth inside it (0: between strings), its own <t>,
        # its runs' <t>, and the <t> whose text is being collected.
        self._depth = 0
        self._in_run = False
        self._plain: str | None = None
        self._runs: list[str] = []
        self._text: list[str] = []
        self._text_depth = 0
        self._collecting = False

    def __getitem__(self, index: int) -> str:
        if index < 0:
            raise DamagedSharedStrings(f"shared string index {index}")
        while index >= len(self._ends) and not self._finished:
            self._read_more()
        if index >= len(self._ends):
            raise DamagedSharedStrings(f"shared string {index} of {len(self._ends)}")
        start = self._ends[index - 1] if index else 0
        end = self._ends[index]
        if start >= self._spilled_bytes:
            return self._recent[start - self._spilled_bytes : end - self._spilled_bytes].decode()
        assert self._spilled is not None  # a text is either all in the file or all in memory
        return os.pread(self._spilled.fileno(), end - start, start).decode()

    def close(self) -> None:
        self._source.close()
        if self._spilled is not None:
            self._spilled.close()

    def _store(self, text: str) -> None:
        self._recent += text.encode()
        end = self._spilled_bytes + len(self._recent)
        if end > 0xFFFF_FFFF and self._ends.typecode == "I":
            self._ends = array("Q", self._ends)
        self._ends.append(end)
        if len(self._recent) >= _SPILL_BYTES:
            if self._spilled is None:  # open as long as the table is: close() closes it
                self._spilled = tempfile.TemporaryFile()  # noqa: SIM115
            self._spilled.write(self._recent)
            self._spilled.flush()
            self._spilled_bytes = end
            self._recent = bytearray()

    def _read_more(self) -> None:
        chunk = self._source.read(_CHUNK_BYTES)
        self._parser.Parse(chunk, not chunk)
        if not chunk:
            self._finished = True
            self._source.close()

    def _refuse_doctype(self, *_args: object) -> None:
        # Excel writes none; a DTD's entities could expand far beyond the unpacked size.
        raise DamagedSharedStrings("a DTD in the shared strings")

    def _start(self, name: str, _attributes: dict[str, str]) -> None:
        if not self._depth:
            if name == _STRING:
                self._depth = 1
                self._plain = None
                self._runs = []
            return
        self._depth += 1
        # openpyxl takes an element's text up to its first child (ElementTree's `.text`).
        self._collecting = False
        tag = name.rpartition(" ")[2]
        if self._depth == 2:
            self._in_run = tag == "r"
            if self._in_run:
                self._runs.append("")
            elif tag == "t":
                self._collect()
        elif self._depth == 3 and self._in_run and tag == "t":
            self._collect()

    def _collect(self) -> None:
        self._text = []
        self._text_depth = self._depth
        self._collecting = True

    def _characters(self, data: str) -> None:
        if self._collecting:
            self._text.append(data)

    def _end(self, _name: str) -> None:
        if not self._depth:
            return
        if self._depth == self._text_depth:
            text = "".join(self._text)
            if self._depth == 2:
                self._plain = text  # the last <t> of an <si> or a run is the one kept
            else:
                self._runs[-1] = text
            self._collecting = False
            self._text_depth = 0
        self._depth -= 1
        if self._depth == 1:
            self._in_run = False
        elif not self._depth:
            content = (self._plain or "") + "".join(self._runs)
            self._store(content.replace("x005F_", ""))
