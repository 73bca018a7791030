"""Firing copies of one HTTP request at a live test server from as many threads, released
together, for the tests that prove what concurrent duplicates do."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def fire_at_once(
    url: str, body: bytes, headers: dict[str, str], copies: int
) -> list[tuple[int, bytes]]:
    """Send `copies` copies of one POST from as many threads, released together; each answer's
    status and body, in the threads' order."""
    start = threading.Barrier(copies)

    def send(_: int) -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        start.wait(timeout=30)
        try:
            with urllib.request.urlopen(request, timeout=90) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    with ThreadPoolExecutor(max_workers=copies) as pool:
        return list(pool.map(send, range(copies)))
