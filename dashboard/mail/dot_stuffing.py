"""SMTP's transparency (RFC 5321 4.5.2): after DATA, a line that starts with a dot gets a second
one, so that no line of a message can read as the lone dot that ends it.

The SMTP session doubles the dots of any message it is handed (`smtp_wire.data_block`), which
means searching the whole message for a line break followed by a dot: 6 to 7 µs for a 6.5 KB
message whose lines are mostly short quoted-printable ones, and a copy when one is found (about
half of a campaign's messages: a soft line break that falls before a period). The builder can
do it for less (`skeleton.MimeSkeleton.render`): the text every recipient shares is doubled
once per campaign, and for each message only the few pieces that hold its values are searched.
"""

from __future__ import annotations


def double_dots(chunk: bytes) -> bytes:
    """`chunk`, which starts at the beginning of a line, with every line that starts with a dot
    given a second one."""
    if b"\n." in chunk:
        chunk = chunk.replace(b"\n.", b"\n..")
    if chunk[:1] == b".":
        chunk = b"." + chunk
    return chunk
