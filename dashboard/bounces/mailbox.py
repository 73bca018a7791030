"""Reading bounces from an IMAP mailbox, polled by beat: the way a team whose bounces land in
its own inbox (Gmail, Microsoft 365) closes the loop.

Each poll logs in (IMAPS, STARTTLS or plain), takes the unseen messages of the folder (at most
BOUNCE_IMAP_MAX_MESSAGES a poll), reads each without marking it, records the reports, then
flags it seen, and moves it to BOUNCE_IMAP_DONE_FOLDER when one is set: each is read once.
A message that could not be recorded stays unseen and is tried again on the next poll.
"""

from __future__ import annotations

import imaplib
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dashboard.bounces.intake import take_in_report

log = logging.getLogger(__name__)
IMAP_TIMEOUT_SECONDS = 30
MODES = ("imaps", "starttls", "plain")


@dataclass(frozen=True)
class PollResult:
    read: int = 0
    recorded: int = 0
    ignored: int = 0


def _context(config: Mapping[str, Any]) -> ssl.SSLContext:
    ca_file = config.get("BOUNCE_IMAP_CA_FILE") or None
    return ssl.create_default_context(cafile=ca_file)


def open_mailbox(config: Mapping[str, Any]) -> imaplib.IMAP4:
    """Connect and log in as the settings say; the folder is not selected yet."""
    host, port = config["BOUNCE_IMAP_HOST"], int(config["BOUNCE_IMAP_PORT"])
    mode = config.get("BOUNCE_IMAP_MODE", "imaps")
    if mode not in MODES:
        raise ValueError(f"BOUNCE_IMAP_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "imaps":
        conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
            host, port, ssl_context=_context(config), timeout=IMAP_TIMEOUT_SECONDS
        )
    else:
        conn = imaplib.IMAP4(host, port, timeout=IMAP_TIMEOUT_SECONDS)
        if mode == "starttls":
            conn.starttls(ssl_context=_context(config))
    try:
        conn.login(config["BOUNCE_IMAP_USER"], config["BOUNCE_IMAP_PASSWORD"])
    except BaseException:
        conn.shutdown()
        raise
    return conn


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fetch(conn: imaplib.IMAP4, uid: bytes) -> bytes | None:
    status, data = conn.uid("FETCH", uid, "(BODY.PEEK[])")
    if status != "OK":
        return None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            return item[1]
    return None


def poll_mailbox(config: Mapping[str, Any]) -> PollResult:
    """Read the folder's unseen messages once each and record the reports among them."""
    limit = int(config.get("BOUNCE_IMAP_MAX_MESSAGES", 200))
    done_folder = config.get("BOUNCE_IMAP_DONE_FOLDER", "")
    conn = open_mailbox(config)
    read = recorded = ignored = 0
    try:
        status, _ = conn.select(_quoted(config.get("BOUNCE_IMAP_FOLDER") or "INBOX"))
        if status != "OK":
            raise imaplib.IMAP4.error("the bounce folder cannot be selected")
        status, data = conn.uid("SEARCH", "UNSEEN")
        uids = data[0].split()[:limit] if status == "OK" and data and data[0] else []
        handled: list[bytes] = []
        for uid in uids:
            raw = _fetch(conn, uid)
            if raw is None:
                continue
            try:
                outcome = take_in_report(raw, config, source="imap")
            except Exception:
                log.exception("could not record the bounce of IMAP message %s", uid.decode())
                continue  # left unseen: the next poll tries it again
            read += 1
            recorded += outcome is not None and outcome.recorded
            ignored += outcome is None
            handled.append(uid)
        if handled:
            uid_set = b",".join(handled).decode()
            conn.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Seen)")
            if done_folder:
                conn.uid("COPY", uid_set, _quoted(done_folder))
                conn.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
                conn.expunge()
        conn.close()
    finally:
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            conn.shutdown()
    return PollResult(read, recorded, ignored)
