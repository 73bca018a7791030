"""Which URLs an endpoint may have: http or https, no credentials, and, unless the setting
WEBHOOK_ALLOW_PRIVATE_TARGETS allows it (it does outside production), never a loopback, private,
link-local or otherwise internal address: a dashboard user must not reach the inside of the
network the workers run in."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from flask_babel import gettext as _

MAX_URL_CHARS = 2000


class TargetError(ValueError):
    """A URL that cannot be an endpoint; the text says why, to the person who gave it."""


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def resolved_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal is its own); TargetError if none."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise TargetError(_("the host name %(host)s does not resolve", host=host)) from None
    return sorted({str(info[4][0]) for info in infos})


def check_target(url: str, *, allow_private: bool) -> str:
    """The URL, stripped, if it may be an endpoint; TargetError naming the problem if not.

    With `allow_private` false the host is resolved and each of its addresses checked; the
    deliverer checks again before every request (a name can be pointed elsewhere later).
    """
    url = (url or "").strip()
    if not url:
        raise TargetError(_("give the URL that will receive the events"))
    if len(url) > MAX_URL_CHARS:
        raise TargetError(_("the URL may be at most %(n)s characters long", n=MAX_URL_CHARS))
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise TargetError(_("the URL may not contain spaces or control characters"))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetError(_("this is not a valid URL")) from None
    if parts.scheme not in ("http", "https"):
        raise TargetError(_("the URL must start with https:// (or http://)"))
    if not parts.hostname:
        raise TargetError(_("the URL has no host"))
    if parts.username is not None or parts.password is not None:
        raise TargetError(_("the URL may not carry a user name or password"))
    if parts.fragment:
        raise TargetError(_("the URL may not have a #fragment"))
    if not allow_private:
        check_public_host(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    return url


def check_public_host(host: str, port: int) -> None:
    """TargetError unless every address of `host` is a public one."""
    if host == "localhost" or host.endswith(".localhost"):
        raise TargetError(_("the URL points at this machine (localhost)"))
    for address in resolved_addresses(host, port):
        if _internal(address):
            raise TargetError(
                _(
                    "the URL points at an internal address (%(address)s); "
                    "only public addresses can receive events",
                    address=address,
                )
            )
