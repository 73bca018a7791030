"""A PostgreSQL intake write whose answer is lost (the connection dies once its statement is on
the way) answers as the database says: accepted when its rows committed (an error would have the
client send the email again: twice), made once more on a new connection when they did not. A
proxy between the app and PostgreSQL cuts the writer's connection at a write: after the server
has committed it and answered, or before the write reaches it. On PostgreSQL whatever the
session's pair: SQLite, in the process, has no answer to lose."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
import redis
from flask import Flask
from sqlalchemy.engine import make_url

from dashboard.config import celery_settings, engine_options
from dashboard.sending.requests import EmailContent
from dashboard.sending.submission import submit_email
from tests import engines
from tests.conftest import REDIS_URL, AppFactory, app_config, close_pool, migrate

_TIMEOUT = 10.0


# The extended protocol's Sync ends a write (its statement commits there, in autocommit), and
# ReadyForQuery follows the commit.
_SYNC = b"S\x00\x00\x00\x04"
_READY = b"Z\x00\x00\x00\x05"


class CommitCutter:
    """A loopback TCP proxy to PostgreSQL. Armed (`arm("after")` or `arm("before")`), it cuts the
    next write of the connection that has written `INSERT INTO message`: once the server has
    committed it and answered (the rows are stored, the client never hears so), or instead of
    forwarding its end (the server never commits it)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.mode: str | None = None
        self.cuts = 0
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, mode: str) -> None:
        with self.lock:
            self.mode = mode

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=_TIMEOUT)
            server.settimeout(None)
            self.sockets += [client, server]
            pair = _Pair(client, server)
            threading.Thread(target=self._up, args=(pair,), daemon=True).start()
            threading.Thread(target=self._down, args=(pair,), daemon=True).start()

    def _up(self, pair: _Pair) -> None:
        """Client to server."""
        while chunk := _receive(pair.client):
            pair.wrote_messages = pair.wrote_messages or b"INSERT INTO message " in chunk
            if pair.wrote_messages and _SYNC in chunk:
                with self.lock:
                    mode, self.mode = self.mode, None
                if mode == "before":
                    self.cuts += 1
                    pair.cut()
                    return
                pair.cut_after_commit = mode == "after"
            with contextlib.suppress(OSError):
                pair.server.sendall(chunk)
        pair.cut()

    def _down(self, pair: _Pair) -> None:
        """Server to client; the answer after the commit dropped, and the connection with it,
        when cut after the commit."""
        while chunk := _receive(pair.server):
            if pair.cut_after_commit and _READY in chunk:
                self.cuts += 1
                pair.cut()
                return
            with contextlib.suppress(OSError):
                pair.client.sendall(chunk)
        pair.cut()


@dataclass
class _Pair:
    client: socket.socket
    server: socket.socket
    wrote_messages: bool = False
    cut_after_commit: bool = False

    def cut(self) -> None:
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


def _receive(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


@dataclass
class LostAnswerStack:
    app: Flask
    cutter: CommitCutter
    direct_url: str

    def stored(self, address: str) -> list[tuple[int, str]]:
        """The message rows for `address` (campaign id, status), read past the proxy."""
        url = make_url(self.direct_url).set(drivername="postgresql")
        with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
            return connection.execute(
                "SELECT campaign_id, status FROM message WHERE to_address = %s", (address,)
            ).fetchall()


@pytest.fixture
def lost_answer_stack(
    stack_settings: dict[str, str], make_app: AppFactory, unique: str
) -> Iterator[LostAnswerStack]:
    """An app on a PostgreSQL database of its own, reached through a `CommitCutter`; its tasks
    go to Redis keys of their own that no worker reads."""
    with engines.postgres_database(engines.session_name(f"dispatcher_lost_{unique}")) as url:
        settings = {**stack_settings, "DATABASE_URL": url}
        migrate(settings)
        direct = make_url(url)
        cutter = CommitCutter(direct.host or "127.0.0.1", direct.port or 5432)
        proxied = direct.set(host="127.0.0.1", port=cutter.port).render_as_string(
            hide_password=False
        )
        config = app_config({**settings, "DATABASE_URL": proxied})
        config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(proxied)
        prefix = f"lost-answer-{unique}:"
        config["CELERY"] = celery_settings(REDIS_URL, REDIS_URL, settings)
        config["CELERY"]["broker_transport_options"]["global_keyprefix"] = prefix
        app = make_app(config)
        try:
            yield LostAnswerStack(app, cutter, url)
        finally:
            close_pool(app)
            cutter.close()
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)


def _submit(app: Flask, address: str) -> int:
    with app.app_context():
        content = EmailContent.model_validate(
            {"to": f"Trần Thị Lan <{address}>", "subject": "Mã xác nhận", "text": "Mã: 4821\n"}
        )
        return submit_email(content, source="api").id


def test_a_write_whose_commit_landed_but_whose_answer_was_lost_is_accepted_once(
    lost_answer_stack: LostAnswerStack, unique: str
) -> None:
    stack = lost_answer_stack
    _submit(stack.app, f"before-{unique}@example.vn")  # the writer's connection is open
    stack.cutter.arm("after")
    address = f"lost-{unique}@example.vn"

    campaign_id = _submit(stack.app, address)

    assert stack.cutter.cuts == 1  # the answer to the commit never reached the app
    assert stack.stored(address) == [(campaign_id, "queued")]
    # The next email goes through a new connection.
    after = f"after-{unique}@example.vn"
    assert _submit(stack.app, after) > campaign_id
    assert len(stack.stored(after)) == 1


def test_a_write_cut_before_its_commit_is_made_once_more_and_stored_once(
    lost_answer_stack: LostAnswerStack, unique: str
) -> None:
    stack = lost_answer_stack
    _submit(stack.app, f"before-{unique}@example.vn")
    stack.cutter.arm("before")
    address = f"cut-{unique}@example.vn"

    campaign_id = _submit(stack.app, address)

    assert stack.cutter.cuts == 1  # the first attempt never reached the server
    assert stack.stored(address) == [(campaign_id, "queued")]


def test_a_kept_connection_closed_on_this_side_costs_no_email(
    lost_answer_stack: LostAnswerStack, unique: str
) -> None:
    stack = lost_answer_stack
    _submit(stack.app, f"before-{unique}@example.vn")
    kept = stack.app.extensions["dispatcher_group_commit"].connection
    kept.dbapi_connection.close()  # as a failed earlier use would leave it
    address = f"closed-{unique}@example.vn"

    campaign_id = _submit(stack.app, address)

    assert stack.cutter.cuts == 0
    assert stack.stored(address) == [(campaign_id, "queued")]
