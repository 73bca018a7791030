"""The shared strings of a workbook read as the sheet asks for them: the same texts as
openpyxl's own reader, read no further than needed, and a damaged part refused."""

from __future__ import annotations

import io
from xml.parsers.expat import ExpatError

import pytest
from openpyxl.reader.strings import read_string_table

from dashboard.campaigns.xlsx_shared_strings import DamagedSharedStrings, SharedStrings

ENTRIES = [
    "<t>Email</t>",
    '<t xml:space="preserve">  Nguyễn Thị Hà  </t>',
    # Rich text: a run in bold; the text is the runs' texts in order.
    '<r><t>Đặng </t></r><r><rPr><b/><sz val="11"/></rPr><t xml:space="preserve">Quốc Dũng</t></r>',
    # Phonetic guides (Excel in a Japanese locale) are not part of the text.
    '<t>東京</t><rPh sb="0" eb="2"><t>トウキョウ</t></rPh>'
    '<phoneticPr fontId="1" type="noConversion"/>',
    '<r><t>Trương</t></r><rPh sb="0" eb="1"><t>X</t></rPh>'
    '<r><t xml:space="preserve"> Mỹ Lệ</t></r>',
    "<t/>",
    "",
    "<t>_x005F_x000D_ &amp; &lt;b&gt; dòng\nhai\r\n</t>",
    "<t>trước<b>trong</b>sau</t>",
    "<r><t>một</t><t>hai</t></r><r></r>",
    "<t>" + "Phạm Thị Ngọc Ánh " * 2000 + "</t>",
]


def table(entries: list[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http://schemas.'
        f'openxmlformats.org/spreadsheetml/2006/main" count="{len(entries)}" '
        f'uniqueCount="{len(entries)}">' + "".join(f"<si>{e}</si>" for e in entries) + "</sst>"
    ).encode()


def test_each_text_is_the_one_openpyxl_reads() -> None:
    data = table(ENTRIES)
    expected = read_string_table(io.BytesIO(data))
    strings = SharedStrings(io.BytesIO(data))
    assert [strings[i] for i in range(len(expected))] == expected
    assert expected[2:5] == ["Đặng Quốc Dũng", "東京", "Trương Mỹ Lệ"]
    with pytest.raises(DamagedSharedStrings):
        strings[len(expected)]
    with pytest.raises(DamagedSharedStrings):
        strings[-1]


def test_only_as_far_as_the_highest_index_asked_for() -> None:
    source = io.BytesIO(table([f"<t>người-{i}@example.vn</t>" for i in range(200_000)]))
    strings = SharedStrings(source)
    assert strings[2] == "người-2@example.vn"
    assert source.tell() <= 64 * 1024  # one chunk of a 6 MB part
    assert strings[150_000] == "người-150000@example.vn"
    assert strings[0] == "người-0@example.vn"


def test_a_damaged_part_is_refused_when_reached() -> None:
    cut = table([f"<t>khách {i}</t>" for i in range(20_000)])[:300_000]
    strings = SharedStrings(io.BytesIO(cut))
    assert strings[1] == "khách 1"
    with pytest.raises(ExpatError):
        strings[19_999]
    doctype = b'<!DOCTYPE sst [<!ENTITY a "aaaa">]><sst><si><t>&a;</t></si></sst>'
    with pytest.raises(DamagedSharedStrings, match="DTD"):
        SharedStrings(io.BytesIO(doctype))[0]
