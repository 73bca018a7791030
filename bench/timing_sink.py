"""A fast SMTP sink that timestamps MAIL FROM: it accepts everything (with PIPELINING), keeps
nothing, and for each recipient whose address starts with `probe-` appends a line
`<address> <epoch seconds of its MAIL FROM>` to the file it is given.

    python bench/timing_sink.py PORT TIMES_FILE

Plain asyncio, one process: Postfix's `smtp-sink` cannot say when a message's MAIL FROM came.
"""

from __future__ import annotations

import asyncio
import sys
import time


class Session(asyncio.Protocol):
    def __init__(self, times) -> None:
        self.times = times
        self.buffer = b""
        self.in_data = False
        self.mail_at = 0.0

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(b"220 timing-sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = []
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    # Keep only what may hold the start of the terminator.
                    self.buffer = self.buffer[-4:]
                    break
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                replies.append(b"250 2.0.0 Ok: queued")
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                break
            line, self.buffer = self.buffer[:line_end], self.buffer[line_end + 2 :]
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                replies.append(b"250-timing-sink\r\n250-PIPELINING\r\n250 8BITMIME")
            elif verb == b"MAIL":
                self.mail_at = time.time()
                replies.append(b"250 2.1.0 Ok")
            elif verb == b"RCPT":
                address = line[line.find(b"<") + 1 : line.rfind(b">")].decode("ascii", "replace")
                if address.startswith("probe-"):
                    self.times.write(f"{address} {self.mail_at:.6f}\n")
                    self.times.flush()
                replies.append(b"250 2.1.5 Ok")
            elif verb == b"DATA":
                self.in_data = True
                replies.append(b"354 End data with <CR><LF>.<CR><LF>")
            elif verb == b"QUIT":
                replies.append(b"221 2.0.0 Bye")
                self.transport.write(b"\r\n".join(replies) + b"\r\n")
                self.transport.close()
                return
            else:  # RSET, NOOP and anything else
                replies.append(b"250 2.0.0 Ok")
        if replies:
            self.transport.write(b"\r\n".join(replies) + b"\r\n")


async def serve(port: int, times_path: str) -> None:
    with open(times_path, "a", encoding="ascii") as times:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Session(times), "127.0.0.1", port, backlog=256)
        async with server:
            await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2]))
