"""Sending a batch of messages over one SMTP connection, with an outcome per recipient.

4xx replies are transient (worth retrying later); 5xx replies are permanent for that recipient
only. A dropped connection is reopened once per message. A connection that cannot be opened at
all (the server unreachable, the login refused) is the account's problem, not a message's:
`deliver_batch` stops with `AccountUnavailable` and no message gets an outcome from it.
"""

from __future__ import annotations

import base64
import contextlib
import smtplib
import ssl
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from dashboard.mail.oauth import OAuthClient, TokenRefused, xoauth2_base64
from dashboard.mail.smtp_wire import Refused, Wire, data_block, envelope_commands


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    use_tls: bool = False
    use_ssl: bool = False
    timeout: float = 30.0
    # Log in with SASL XOAUTH2 (an access token from this client) instead of the password.
    oauth: OAuthClient | None = field(default=None, repr=False)


class Outcome(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Envelope:
    """What goes on the wire for one message; `key` lets the caller match the result. With
    `dots_doubled`, `data` is the message as it goes after DATA, its lines' leading dots
    doubled already (`MimeSkeleton.render`); otherwise the session doubles them."""

    key: int
    sender: str
    recipient: str
    data: bytes = field(repr=False)
    dots_doubled: bool = False


@dataclass(frozen=True)
class DeliveryResult:
    key: int
    outcome: Outcome
    code: int | None
    reply: str
    duration_ms: int


class StopSending(Exception):
    """Raised by the envelopes' source to stop at once: a message whose commands are already
    on the wire (taken ahead of the last reply) is abandoned, its connection closed before the
    end of its data so that the server discards it, instead of being finished."""


class NoLoginOffered(smtplib.SMTPNotSupportedError):
    """The account has a user name, and the server offers no way to log in with it."""


class AccountUnavailable(Exception):
    """The SMTP account cannot be used now: its server cannot be reached, or it refuses the
    login (535) or the connection, or it offers no login where the account has a user name
    (no AUTH in its EHLO reply: a relay port, or a server that offers AUTH only after
    STARTTLS). Nothing is wrong with the messages; they should wait."""

    def __init__(
        self, code: int | None, reply: str, *, login_refused: bool, no_login: bool = False
    ) -> None:
        super().__init__(code, reply)
        self.code, self.reply = code, reply
        self.login_refused, self.no_login = login_refused or no_login, no_login

    def __str__(self) -> str:
        what = "refuses the login" if self.login_refused else "cannot be reached"
        if self.no_login:
            what = "offers no login"
        return f"the SMTP server {what}: " + (
            f"{self.code} {self.reply}" if self.code is not None else self.reply
        )


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def outcome_for_code(code: int) -> Outcome:
    """5xx is permanent; 4xx, and anything odd, is worth another try."""
    return Outcome.PERMANENT if 500 <= code < 600 else Outcome.TRANSIENT


def open_connection(settings: SmtpSettings) -> smtplib.SMTP:
    """Connect, say EHLO, upgrade to TLS when asked, and log in when credentials are set."""
    # Loading the CA store costs ~50 ms: only when the connection will use TLS.
    context = ssl.create_default_context() if settings.use_ssl or settings.use_tls else None
    if settings.use_ssl:
        conn: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        conn = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        conn.ehlo()
        if settings.use_tls:
            conn.starttls(context=context)
            conn.ehlo()
        if settings.username and not conn.has_extn("auth"):
            raise NoLoginOffered("the server's EHLO reply offers no AUTH")
        if settings.username and settings.oauth is not None:
            _login_xoauth2(conn, settings.username, settings.oauth)
        elif settings.username:
            _login(conn, settings.username, settings.password)
    except BaseException:
        _close(conn)
        raise
    return conn


# What opening a connection can fail with: the network, the SMTP dialogue, the token endpoint.
_CONNECT_ERRORS = (OSError, smtplib.SMTPException, TokenRefused)


def _unavailable(error: BaseException, password: str) -> AccountUnavailable:
    if isinstance(error, TokenRefused):
        return AccountUnavailable(None, str(error), login_refused=error.refused)
    code, reply = _describe(error)
    if password:  # a server may echo what it was sent; the password never goes further
        reply = reply.replace(password, "***")
    return AccountUnavailable(
        code,
        reply,
        login_refused=isinstance(error, smtplib.SMTPAuthenticationError),
        no_login=isinstance(error, NoLoginOffered),
    )


def try_account(settings: SmtpSettings) -> None:
    """Connect, log in and say QUIT, sending nothing; AccountUnavailable when that fails."""
    try:
        conn = open_connection(settings)
    except _CONNECT_ERRORS as error:
        raise _unavailable(error, settings.password) from None
    _close(conn)


def _login(conn: smtplib.SMTP, username: str, password: str) -> None:
    """smtplib's login() only sends ASCII; RFC 4616 PLAIN carries UTF-8 credentials as they are."""
    if (username + password).isascii():
        conn.login(username, password)
        return
    credentials = b"\0" + username.encode() + b"\0" + password.encode()
    code, reply = conn.docmd("AUTH", "PLAIN " + base64.b64encode(credentials).decode("ascii"))
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _login_xoauth2(conn: smtplib.SMTP, username: str, oauth: OAuthClient) -> None:
    """SASL XOAUTH2: the user and a bearer token in one initial response. A server that refuses
    it sends a 334 with its reasons and waits for an empty line before its final 535."""
    code, reply = conn.docmd("AUTH", "XOAUTH2 " + xoauth2_base64(username, oauth.access_token()))
    if code == 334:
        code, reply = conn.docmd("")
    if code != 235:
        oauth.forget()  # perhaps revoked before it expired: the next login asks for a new one
        raise smtplib.SMTPAuthenticationError(code, reply)


def _close(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (OSError, smtplib.SMTPException):
        conn.close()


def _describe(error: BaseException) -> tuple[int | None, str]:
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code, _text(error.smtp_error)
    return None, f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


@dataclass
class _Attempt:
    """One envelope, from when it is taken until its outcome is known."""

    envelope: Envelope
    started: float = field(default_factory=time.monotonic)
    reconnected: bool = False  # whether it already had its one reconnect

    def result(self, outcome: Outcome, code: int | None, reply: str) -> DeliveryResult:
        elapsed = int((time.monotonic() - self.started) * 1000)
        return DeliveryResult(self.envelope.key, outcome, code, reply, elapsed)


class _Queue:
    """The envelopes to send: first those a broken connection left unanswered, then the
    caller's, taken one at a time."""

    def __init__(self, envelopes: Iterable[Envelope]) -> None:
        self.source = iter(envelopes)
        self.again: deque[_Attempt] = deque()

    def take(self) -> _Attempt | None:
        if self.again:
            return self.again.popleft()
        envelope = next(self.source, None)
        return None if envelope is None else _Attempt(envelope)

    def retry(self, attempts: list[_Attempt]) -> None:
        """Back to the front, in order: they were taken before any still waiting here."""
        self.again.extendleft(reversed(attempts))


_DIALOGUE_ERRORS = (OSError, smtplib.SMTPException)


class _Link:
    """One open connection and where its dialogue stands.

    With PIPELINING (RFC 2920), a message's data, its end and the next message's MAIL, RCPT and
    DATA go in one write, and their replies come back together: one round trip a message. A
    message's outcome is what the server answered to the end of its data; until that reply is
    read it is `unanswered`, and a broken connection leaves it so (never counted as sent).
    Without PIPELINING, one command at a time."""

    def __init__(self, conn: smtplib.SMTP, while_answering: Callable[[], None] | None) -> None:
        self.conn = conn
        self.wire = Wire(conn)
        self.while_answering = while_answering
        self.pipelining = bool(conn.does_esmtp and conn.has_extn("pipelining"))
        self.open: _Attempt | None = None  # its DATA was answered 354: its data goes next
        self.unanswered: list[_Attempt] = []  # written to the server, no final reply read yet
        self.reset_due = False  # an envelope was refused: RSET goes before the next MAIL
        self.broken: BaseException | None = None

    def exchange(self, following: _Attempt | None) -> Iterator[DeliveryResult]:
        """Finish the open message, if any, and start `following`, if any, yielding each
        outcome read. A broken connection sets `broken` and leaves `unanswered` as it was."""
        try:
            if self.pipelining:
                yield from self._pipelined(following)
            elif following is not None:
                yield from self._lockstep(following)
        except _DIALOGUE_ERRORS as error:
            self.broken = error
            self.conn.close()

    def _pipelined(self, following: _Attempt | None) -> Iterator[DeliveryResult]:
        finishing, self.open = self.open, None
        parts: list[bytes] = []
        if finishing is not None:
            sent = finishing.envelope
            parts = data_block(sent.data, dots_doubled=sent.dots_doubled)
        refused = reset = None
        if following is not None:
            self.unanswered.append(following)
            try:
                commands = envelope_commands(
                    following.envelope.sender, following.envelope.recipient
                )
            except Refused as refusal:
                refused = refusal
            else:
                reset, self.reset_due = self.reset_due, False
                parts += [b"RSET\r\n", *commands] if reset else commands
        if parts:
            self.wire.write(parts)
            if self.while_answering is not None:
                self.while_answering()
        if finishing is not None:
            code, reply = self.wire.reply()
            yield self._answered(finishing, Outcome.SENT if code == 250 else None, code, reply)
            _end_if_closing(code, reply)
        if following is None:
            return
        if refused is not None:
            yield self._answered(following, None, refused.code, refused.reply)
            return
        if reset:
            self.wire.reply()  # a refused RSET shows itself in the MAIL after it
        yield from self._envelope_replies(following)

    def _envelope_replies(self, attempt: _Attempt) -> Iterator[DeliveryResult]:
        (mail, mail_reply), (rcpt, rcpt_reply), (data, data_reply) = (
            self.wire.reply(),
            self.wire.reply(),
            self.wire.reply(),
        )
        refusal = None
        if mail != 250:
            refusal = (mail, mail_reply)
        elif rcpt not in (250, 251):
            refusal = (rcpt, rcpt_reply)
        if data == 354 and refusal is None:
            self.open = attempt
            return
        if data == 354:  # a server that opened DATA anyway gets an empty, refused message
            self.wire.write([b".\r\n"])
            self.wire.reply()
        self.reset_due = True
        code, reply = refusal or (data, data_reply)
        yield self._answered(attempt, None, code, reply)
        _end_if_closing(code, reply)

    def _lockstep(self, attempt: _Attempt) -> Iterator[DeliveryResult]:
        self.unanswered.append(attempt)
        envelope = attempt.envelope
        try:
            mail, rcpt, data = envelope_commands(envelope.sender, envelope.recipient)
            self._command(mail, (250,))
            self._command(rcpt, (250, 251))
            self._command(data, (354,))
            self.wire.write(data_block(envelope.data, dots_doubled=envelope.dots_doubled))
            if self.while_answering is not None:
                self.while_answering()
            code, reply = self.wire.reply()
            if code != 250:
                raise Refused(code, reply)
        except Refused as refused:
            yield self._answered(attempt, None, refused.code, refused.reply)
            _end_if_closing(refused.code, refused.reply)
            self.wire.write([b"RSET\r\n"])  # a broken connection shows itself here
            self.wire.reply()
            return
        yield self._answered(attempt, Outcome.SENT, code, reply)

    def _command(self, command: bytes, expected: tuple[int, ...]) -> None:
        self.wire.write([command])
        code, reply = self.wire.reply()
        if code not in expected:
            raise Refused(code, reply)

    def _answered(
        self, attempt: _Attempt, outcome: Outcome | None, code: int, reply: str
    ) -> DeliveryResult:
        self.unanswered.remove(attempt)
        return attempt.result(outcome or outcome_for_code(code), code, reply)

    def close(self) -> None:
        """QUIT when the dialogue is between messages; otherwise (mid-data, replies unread)
        just close, which makes the server drop any message it has not seen the end of."""
        if self.broken is not None:
            return
        if not self.unanswered:
            with contextlib.suppress(*_DIALOGUE_ERRORS):
                commands = [b"RSET\r\n", b"QUIT\r\n"] if self.reset_due else [b"QUIT\r\n"]
                self.wire.write(commands)
                for _ in commands:
                    self.wire.reply()
        self.conn.close()


def _end_if_closing(code: int, reply: str) -> None:
    if code == 421:  # the server is closing the connection: what follows goes over a new one
        raise smtplib.SMTPServerDisconnected(f"{code} {reply}")


def _connect(settings: SmtpSettings, while_answering: Callable[[], None] | None) -> _Link:
    try:
        return _Link(open_connection(settings), while_answering)
    except _CONNECT_ERRORS as error:
        raise _unavailable(error, settings.password) from None


def _round_trip(
    link: _Link, following: _Attempt | None, queue: _Queue, *, retry: bool = True
) -> Generator[DeliveryResult, None, _Link | None]:
    """`link.exchange`, then, if the connection broke, what becomes of the messages it left
    unanswered. The break counts against the oldest, the one being answered: sent again over a
    new connection once (whether its data arrived cannot be known), then a transient outcome.
    The others go again as if never tried. Returns the link, or None once it is closed."""
    yield from link.exchange(following)
    if link.broken is None:
        return link
    code, reply = _describe(link.broken)
    again = []
    for index, attempt in enumerate(link.unanswered):
        if not retry or (index == 0 and attempt.reconnected):
            yield attempt.result(Outcome.TRANSIENT, code, reply)
            continue
        attempt.reconnected = attempt.reconnected or index == 0
        again.append(attempt)
    queue.retry(again)
    return None


def deliver_batch(
    envelopes: Iterable[Envelope],
    settings: SmtpSettings,
    *,
    lookahead: bool = True,
    while_answering: Callable[[], None] | None = None,
) -> Iterator[DeliveryResult]:
    """Send each envelope over one connection, yielding one result per envelope, in order.

    Envelopes are taken one at a time, as they are sent, so a caller may pace them (a rate
    limit) or stop handing them out (a used-up quota) while the batch runs. With PIPELINING and
    `lookahead`, the next envelope is taken before the last one's outcome is read, so that its
    commands share that round trip: a result comes one envelope later, never before the
    server's reply to the end of that message's data. Without `lookahead` (a caller that hands
    over one envelope and waits for its result) each result comes before the next is taken.
    If taking an envelope raises, the message in progress is finished and its result yielded
    first, except for StopSending, which abandons it unsent. Raises AccountUnavailable when no
    connection can be opened (at the start, or to reconnect): the envelopes being sent and
    those after them have no result then.

    `while_answering`, if given, is called after each pipelined write, while the server works
    on it: the caller's chance to do work that would otherwise wait for the reply (it must
    not raise, and must not take envelopes).
    """
    queue = _Queue(envelopes)
    link: _Link | None = None
    try:
        while True:
            if link is not None and link.open is not None and not lookahead:
                link = yield from _round_trip(link, None, queue)
            try:
                attempt = queue.take()
            except StopSending:
                raise  # `finally` closes the link mid-dialogue: nothing more is delivered
            except Exception:
                if link is not None and link.open is not None:
                    yield from _round_trip(link, None, queue, retry=False)
                raise
            if attempt is None:
                if link is None or link.open is None:
                    return
                link = yield from _round_trip(link, None, queue)  # may leave some to send again
                continue
            if link is None:
                link = _connect(settings, while_answering)
            link = yield from _round_trip(link, attempt, queue)
    finally:
        if link is not None:
            link.close()
