"""Failed sign-ins counted in Redis, per address and per IP, so the limit holds across every
web process and host."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis

KEY_PREFIX = "dispatcher:login-failures"


class ThrottleUnavailable(RuntimeError):
    """Redis does not answer; sign-in is refused rather than left unlimited."""


@dataclass(frozen=True)
class LoginThrottle:
    client: redis.Redis
    max_per_address: int
    max_per_ip: int
    window_seconds: int

    def _keys(self, email: str, ip: str) -> tuple[str, str]:
        digest = hashlib.sha256(email.strip().lower().encode("utf-8", "replace")).hexdigest()
        return f"{KEY_PREFIX}:address:{digest}", f"{KEY_PREFIX}:ip:{ip}"

    def seconds_blocked(self, email: str, ip: str) -> int:
        """0 if this sign-in may be tried, else how long until it may."""
        address_key, ip_key = self._keys(email, ip)
        try:
            pipe = self.client.pipeline()
            pipe.get(address_key).get(ip_key).ttl(address_key).ttl(ip_key)
            by_address, by_ip, address_ttl, ip_ttl = pipe.execute()
        except redis.RedisError as error:
            raise ThrottleUnavailable(str(error)) from None
        waits = []
        if by_address is not None and int(by_address) >= self.max_per_address:
            waits.append(address_ttl)
        if by_ip is not None and int(by_ip) >= self.max_per_ip:
            waits.append(ip_ttl)
        return max((max(w, 1) for w in waits), default=0)

    def record_failure(self, email: str, ip: str) -> None:
        try:
            pipe = self.client.pipeline()
            for key in self._keys(email, ip):
                # The window starts at the first failure and is not extended by later ones.
                pipe.set(key, 0, ex=self.window_seconds, nx=True).incr(key)
            pipe.execute()
        except redis.RedisError as error:
            raise ThrottleUnavailable(str(error)) from None

    def record_success(self, email: str) -> None:
        """A correct password clears the address's count (not the IP's)."""
        try:
            self.client.delete(self._keys(email, "")[0])
        except redis.RedisError as error:
            raise ThrottleUnavailable(str(error)) from None


def throttle_from_config(config: dict) -> LoginThrottle:
    return LoginThrottle(
        # A client connects on first use, so an app that nobody signs in to opens no socket.
        client=redis.Redis.from_url(
            config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=5
        ),
        max_per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
        max_per_ip=config["LOGIN_MAX_FAILURES_PER_IP"],
        window_seconds=config["LOGIN_LOCKOUT_MINUTES"] * 60,
    )
