"""The signed one-click unsubscribe link (RFC 8058) of one recipient of one campaign: made by
the workers for each message, read back by the unsubscribe page. The signature, from
SECRET_KEY, is the authority: web, workers and beat must share the key."""

from __future__ import annotations

import base64
import hmac

from itsdangerous import BadSignature, Signer

from dashboard.mail.recipient_check import check_address

_SALT = "list-unsubscribe"


def unsubscribe_serializer(secret_key: str) -> Signer:
    """The signer of unsubscribe links; make it once per batch, not per message."""
    return Signer(secret_key, salt=_SALT)


class UnsubscribeLinks:
    """The links of one site, signed as `signer.sign` would sign them, with the signer's key
    derived and keyed into HMAC once: each link then costs one copy of that HMAC state."""

    def __init__(self, base_url: str, signer: Signer) -> None:
        self._prefix = f"{base_url.rstrip('/')}/unsubscribe/"
        self._keyed = hmac.new(signer.derive_key(), digestmod=signer.digest_method)
        self._sep = signer.sep.decode("ascii")

    def url(self, address: str, campaign_id: int) -> str:
        """The absolute link for one recipient of one campaign (usable by workers, no request)."""
        value = base64.urlsafe_b64encode(f"{campaign_id}:{address}".encode()).rstrip(b"=")
        mac = self._keyed.copy()
        mac.update(value)
        signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")
        return f"{self._prefix}{value.decode('ascii')}{self._sep}{signature.decode('ascii')}"


def unsubscribe_url(base_url: str, signer: Signer, address: str, campaign_id: int) -> str:
    """The absolute link for one recipient of one campaign; a batch keeps one UnsubscribeLinks."""
    return UnsubscribeLinks(base_url, signer).url(address, campaign_id)


def read_unsubscribe_token(secret_key: str, token: str) -> tuple[str, int]:
    """The address and campaign id a link's token names; ValueError for a forged or cut token."""
    try:
        value = unsubscribe_serializer(secret_key).unsign(token)
        decoded = base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4)).decode()
        campaign_id, _, address = decoded.partition(":")
        return check_address(address), int(campaign_id)
    except (BadSignature, ValueError, TypeError, UnicodeDecodeError):
        raise ValueError("not a valid unsubscribe token") from None
