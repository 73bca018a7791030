"""A real aiosmtpd server on a free loopback port whose replies a test can script."""

from __future__ import annotations

import asyncio
import base64
import random
import socket
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    """One message the server accepted, as the recipient's server would see it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    at: float = field(default_factory=time.time)  # when it was accepted (epoch seconds)

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.raw)


@dataclass
class Script:
    """Replies to give instead of 250, set by a test."""

    pipelining: bool = False  # offer PIPELINING (RFC 2920) in EHLO, as Postfix and Gmail do
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> reply, every time
    # address -> reply to the DATA command instead of 354, every time
    data_command_replies: dict[str, str] = field(default_factory=dict)
    # address -> reply to the end of its data instead of 250 (nothing is kept), every time
    final_replies: dict[str, str] = field(default_factory=dict)
    data_replies: deque[str] = field(default_factory=deque)  # next DATA replies, used once each
    data_delay: float = 0.0  # seconds to wait before answering DATA
    drop_every: int = 0  # close the connection instead of answering every Nth DATA
    # Accept every Nth message, then close the connection before its 250 goes out: the client
    # cannot know it was delivered (a lost final reply).
    lose_reply_every: int = 0
    data_count: int = 0
    drop_at_mail: int = 0  # close the connection instead of answering the Nth MAIL (counted once)
    mail_count: int = 0
    reads: int = 0  # chunks the server read from its clients: a round trip is at least one
    transient_rate: float = 0.0  # share of DATA commands answered 421 or 451 at random
    rng: random.Random = field(default_factory=lambda: random.Random(4))


class ScriptedHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script = Script()
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if not self.script.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.script.mail_count += 1
            if self.script.mail_count == self.script.drop_at_mail:
                server.transport.close()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.script.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.script.data_delay:
            await asyncio.sleep(self.script.data_delay)
        with self.lock:
            self.script.data_count += 1
            if self.script.drop_every and self.script.data_count % self.script.drop_every == 0:
                server.transport.close()
                return "421 4.4.2 Connection dropped"
            if self.script.data_replies:
                return self.script.data_replies.popleft()
            final = self.script.final_replies.get(envelope.rcpt_tos[0].lower())
            if final:
                return final
            script = self.script
            if script.transient_rate and script.rng.random() < script.transient_rate:
                return script.rng.choice(
                    ["421 4.3.2 Service shutting down, try later", "451 4.3.0 Try again later"]
                )
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
            lose = script.lose_reply_every
            if lose and script.data_count % lose == 0:
                server.transport.close()
        return "250 2.0.0 Ok: queued"


class BearerHandler(ScriptedHandler):
    """A handler that also takes SASL XOAUTH2 (as Gmail does), for one user and access token."""

    def __init__(self, bearer: tuple[str, str]) -> None:
        super().__init__()
        self.bearer = bearer
        self.bearer_logins: list[str] = []  # the tokens offered, in order

    async def auth_XOAUTH2(self, server, args) -> AuthResult:
        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        try:
            fields = base64.b64decode(args[1], validate=True).decode().split("\x01")
        except (ValueError, UnicodeDecodeError):
            return AuthResult(success=False, handled=False)
        user = fields[0].removeprefix("user=")
        token = fields[1].removeprefix("auth=Bearer ") if len(fields) > 1 else ""
        self.bearer_logins.append(token)
        good = (user, token) == self.bearer
        return AuthResult(success=good, handled=False, auth_data=user if good else None)


class _ScriptedSMTP(SMTP):
    """aiosmtpd's server, counting what it reads and refusing DATA itself when scripted to."""

    def data_received(self, data: bytes) -> None:
        with self.event_handler.lock:
            self.event_handler.script.reads += 1
        super().data_received(data)

    async def smtp_DATA(self, arg: str) -> None:
        if self.envelope is not None and self.envelope.rcpt_tos:
            reply = self.event_handler.script.data_command_replies.get(
                self.envelope.rcpt_tos[0].lower()
            )
            if reply:
                await self.push(reply)
                return
        await super().smtp_DATA(arg)


class _ClosingController(Controller):
    """A Controller whose stop() first closes the connections still open (a test stops the server
    while workers talk to it): stopping the loop under them left their transports unclosed, and
    their ResourceWarning at garbage collection failed whichever test came next."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: weakref.WeakSet = weakref.WeakSet()

    def factory(self):
        session = _ScriptedSMTP(self.handler, **self.SMTP_kwargs)
        self.sessions.add(session)
        return session

    async def _close_sessions(self) -> None:
        if self.server is not None:
            self.server.close()  # accept no new connection while the open ones are closed
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()
        for _ in range(3):  # let each transport's connection_lost run and close its socket
            await asyncio.sleep(0)

    def stop(self, no_assert: bool = False) -> None:
        if self._thread is not None and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self._close_sessions(), self.loop).result(timeout=10)
        super().stop(no_assert)


class ScriptedSMTPServer:
    """With `login`, the server offers AUTH (over plain text: loopback only) and accepts only
    that user name and password; a test may change `login` to refuse or accept again. With
    `bearer`, it takes XOAUTH2 for that user and access token."""

    def __init__(
        self, login: tuple[str, str] | None = None, *, bearer: tuple[str, str] | None = None
    ) -> None:
        """`bearer` (user, access token): the server takes XOAUTH2 for that user and token."""
        self.handler = ScriptedHandler() if bearer is None else BearerHandler(bearer)
        self.bearer = bearer
        self.port = free_port()
        self.login = login
        self.logins_refused = 0
        self.controller = self._controller()

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        good = (
            self.login is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == self.login
        )
        if not good:
            self.logins_refused += 1
        return AuthResult(success=good, handled=False, auth_data=auth_data)

    def _controller(self) -> Controller:
        auth: dict = {}
        if self.login is not None or self.bearer is not None:
            # Offered without TLS; not required (aiosmtpd warns at that): the dispatcher logs
            # in whenever MAIL_USERNAME is set.
            auth = {"authenticator": self._authenticate, "auth_require_tls": False}
        return _ClosingController(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            data_size_limit=64 * 1024 * 1024,
            **auth,
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def restart(self) -> None:
        """Listen again on the same port (after `stop`), keeping what was received."""
        self.controller = self._controller()
        self.controller.start()

    def reset(self) -> None:
        with self.handler.lock:
            self.handler.received.clear()
            self.handler.script = Script()

    @property
    def script(self) -> Script:
        return self.handler.script

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def received_by(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]
