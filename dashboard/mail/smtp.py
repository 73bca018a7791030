"""Sending a batch of messages over one SMTP connection, with an outcome per recipient.

4xx replies are transient (worth retrying later); 5xx replies are permanent for that recipient
only. A dropped connection is reopened once per message. A connection that cannot be opened at
all (the server unreachable, the login refused) is the account's problem, not a message's:
`deliver_batch` stops with `AccountUnavailable` and no message gets an outcome from it.
"""

from __future__ import annotations

import base64
import contextlib
import re
import smtplib
import ssl
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from dashboard.mail.oauth import OAuthClient, TokenRefused, xoauth2_base64


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
    """What goes on the wire for one message; `key` lets the caller match the result."""

    key: int
    sender: str
    recipient: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class DeliveryResult:
    key: int
    outcome: Outcome
    code: int | None
    reply: str
    duration_ms: int


class AccountUnavailable(Exception):
    """The SMTP account cannot be used now: its server cannot be reached, or it refuses the
    login (535) or the connection. Nothing is wrong with the messages; they should wait."""

    def __init__(self, code: int | None, reply: str, *, login_refused: bool) -> None:
        super().__init__(code, reply)
        self.code, self.reply, self.login_refused = code, reply, login_refused

    def __str__(self) -> str:
        what = "refuses the login" if self.login_refused else "cannot be reached"
        return f"the SMTP server {what}: " + (
            f"{self.code} {self.reply}" if self.code is not None else self.reply
        )


class _Refused(Exception):
    def __init__(self, code: int, reply: str) -> None:
        super().__init__(code, reply)
        self.code, self.reply = code, reply


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
        code, reply, login_refused=isinstance(error, smtplib.SMTPAuthenticationError)
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


_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


def _send_pipelined(conn: smtplib.SMTP, envelope: Envelope) -> tuple[int, str]:
    """MAIL, RCPT and DATA in one write, then their three replies (RFC 2920): one round trip
    where there were three, for servers that offer PIPELINING (Postfix, Gmail)."""
    if "\n" in envelope.sender + envelope.recipient or "\r" in envelope.sender + envelope.recipient:
        raise _Refused(501, "an address holds a line break")  # never a command of its own
    conn.send(f"MAIL FROM:<{envelope.sender}>\r\nRCPT TO:<{envelope.recipient}>\r\nDATA\r\n")
    replies = [conn.getreply() for _ in range(3)]
    (mail_code, mail_reply), (rcpt_code, rcpt_reply), (data_code, data_reply) = replies
    refusal = None
    if mail_code != 250:
        refusal = _Refused(mail_code, _text(mail_reply))
    elif rcpt_code not in (250, 251):
        refusal = _Refused(rcpt_code, _text(rcpt_reply))
    if data_code != 354:
        raise refusal or _Refused(data_code, _text(data_reply))
    if refusal is not None:  # a server that opened DATA anyway gets an empty, refused message
        conn.send(b".\r\n")
        conn.getreply()
        raise refusal
    data = _LEADING_DOT.sub(b"..", envelope.data)
    conn.send(data + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    code, reply = conn.getreply()
    if code != 250:
        raise _Refused(code, _text(reply))
    return code, _text(reply)


def _send_one(conn: smtplib.SMTP, envelope: Envelope) -> tuple[int, str]:
    if conn.does_esmtp and conn.has_extn("pipelining"):
        return _send_pipelined(conn, envelope)
    # docmd, not mail()/rcpt(): those re-parse each address with email.utils.parseaddr, a tenth
    # of a bulk worker's time; envelope addresses are validated single-line ASCII already.
    code, reply = conn.docmd("mail", f"FROM:<{envelope.sender}>")
    if code != 250:
        raise _Refused(code, _text(reply))
    code, reply = conn.docmd("rcpt", f"TO:<{envelope.recipient}>")
    if code not in (250, 251):
        raise _Refused(code, _text(reply))
    try:
        code, reply = conn.data(envelope.data)
    except smtplib.SMTPDataError as error:
        raise _Refused(error.smtp_code, _text(error.smtp_error)) from None
    if code != 250:
        raise _Refused(code, _text(reply))
    return code, _text(reply)


def _describe(error: BaseException) -> tuple[int | None, str]:
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code, _text(error.smtp_error)
    return None, f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def deliver_batch(
    envelopes: Iterable[Envelope],
    settings: SmtpSettings,
) -> Iterator[DeliveryResult]:
    """Send each envelope in turn over one connection, yielding one result per envelope.

    Envelopes are taken one at a time, just before each is sent, so a caller may pace them
    (a rate limit) or stop handing them out (a used-up quota) while the batch runs. Raises
    AccountUnavailable when no connection can be opened (at the start, or to reconnect): the
    envelope being sent and those after it have no result then.
    """
    remaining = iter(envelopes)
    conn: smtplib.SMTP | None = None
    try:
        for envelope in remaining:
            started = time.monotonic()

            def result(
                outcome: Outcome,
                code: int | None,
                reply: str,
                env: Envelope = envelope,
                started: float = started,
            ) -> DeliveryResult:
                elapsed = int((time.monotonic() - started) * 1000)
                return DeliveryResult(env.key, outcome, code, reply, elapsed)

            reconnected = False  # whether this message already had its one reconnect
            while True:
                if conn is None:
                    try:
                        conn = open_connection(settings)
                    except _CONNECT_ERRORS as error:
                        raise _unavailable(error, settings.password) from None
                try:
                    code, reply = _send_one(conn, envelope)
                except _Refused as refused:
                    yield result(outcome_for_code(refused.code), refused.code, refused.reply)
                    if refused.code == 421:  # the server is closing this connection
                        _close(conn)
                        conn = None
                    else:
                        _reset(conn)
                    break
                except (OSError, smtplib.SMTPException) as error:
                    _close(conn)
                    conn = None
                    if not reconnected:
                        reconnected = True
                        continue  # the connection broke: reconnect and try the same message again
                    code, reply = _describe(error)
                    yield result(Outcome.TRANSIENT, code, reply)
                    break
                yield result(Outcome.SENT, code, reply)
                break
    finally:
        if conn is not None:
            _close(conn)


def _reset(conn: smtplib.SMTP) -> None:
    # A broken connection shows itself on the next message, which reconnects.
    with contextlib.suppress(OSError, smtplib.SMTPException):
        conn.rset()
