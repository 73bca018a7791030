"""The bytes of an SMTP dialogue once the connection is open (greeting, EHLO, TLS and login are
smtplib's): whole writes, one `sendall` per round trip, and replies read from a buffered reader,
a line at a time, without smtplib's per-line overhead."""

from __future__ import annotations

import smtplib
import socket
from typing import BinaryIO

from dashboard.mail.dot_stuffing import double_dots

# RFC 5321 4.5.3.1.5 allows reply lines of 512 octets; smtplib takes up to 8192 and so do we.
_MAX_LINE = 8192


class Refused(Exception):
    """The server answered a command of this message with something other than success."""

    def __init__(self, code: int, reply: str) -> None:
        super().__init__(code, reply)
        self.code, self.reply = code, reply


def envelope_commands(sender: str, recipient: str) -> list[bytes]:
    """MAIL, RCPT and DATA of one message."""
    addresses = sender + recipient
    if "\n" in addresses or "\r" in addresses:
        raise Refused(501, "an address holds a line break")  # never a command of its own
    if not addresses.isascii():
        raise Refused(501, "an address is not ASCII")  # addresses are checked ASCII on entry
    return [
        f"MAIL FROM:<{sender}>\r\n".encode(),
        f"RCPT TO:<{recipient}>\r\n".encode(),
        b"DATA\r\n",
    ]


def data_block(data: bytes, *, dots_doubled: bool = False) -> list[bytes]:
    """A message as it goes after DATA's 354: a dot doubled where a line starts with one
    (unless the builder did it: `dots_doubled`), a CRLF at the end, then the lone dot. The same
    bytes as smtplib's regex over every line, by C-speed searches and a replace only when a line
    can start with a dot."""
    if not dots_doubled:
        data = double_dots(data)
    return [data, b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n"]


class Wire:
    """Writes and replies over smtplib's socket and reader, after smtplib has opened it."""

    def __init__(self, conn: smtplib.SMTP) -> None:
        self.sock: socket.socket = conn.sock
        # smtplib's own buffered reader (EHLO made it): nothing it has read ahead is lost.
        self.reader: BinaryIO = conn.file or conn.sock.makefile("rb")
        conn.file = self.reader
        # Each round trip is one write: nothing gains from Nagle's wait, and a write that TLS
        # splits in records must not wait for an acknowledgement of its first part.
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(self, parts: list[bytes]) -> None:
        self.sock.sendall(b"".join(parts))

    def reply(self) -> tuple[int, str]:
        """One reply, all its lines: (code, text with the lines joined by newlines)."""
        line = self._line()
        if line[3:4] != b"-":  # one line: nearly every reply
            return _code(line), line[4:].strip().decode("utf-8", "replace")
        lines = [line[4:].strip()]
        while line[3:4] == b"-":
            line = self._line()
            lines.append(line[4:].strip())
        return _code(line), b"\n".join(lines).decode("utf-8", "replace")

    def _line(self) -> bytes:
        line = self.reader.readline(_MAX_LINE + 1)
        if not line:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        if len(line) > _MAX_LINE:
            raise smtplib.SMTPResponseException(500, b"Line too long.")
        return line


def _code(line: bytes) -> int:
    try:
        return int(line[:3])
    except ValueError:
        return -1  # as smtplib: a garbled reply is nothing the server can be held to
