"""Sign-in attempts counted in Redis, per account address and per IP, so the limit holds across
every web process and host.

Checking the budget and spending one try of it are one Lua script, run atomically by Redis: of
any number of concurrent attempts, only as many as the limit get to check a password. A correct
password gives its try back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis

KEY_PREFIX = "dispatcher:login-failures"

# KEYS: address, ip. ARGV: max per address, max per ip, window in seconds.
# Answers 0 when the attempt may go ahead (and has been counted), else the seconds to wait.
_TAKE_ATTEMPT = """
local limits = {tonumber(ARGV[1]), tonumber(ARGV[2])}
local wait = 0
for index, key in ipairs(KEYS) do
    local count = tonumber(redis.call('GET', key) or '0')
    if count >= limits[index] then
        wait = math.max(wait, redis.call('TTL', key), 1)
    end
end
if wait > 0 then
    return wait
end
for _, key in ipairs(KEYS) do
    -- The window starts at the first attempt and is not extended by later ones.
    if redis.call('INCR', key) == 1 then
        redis.call('EXPIRE', key, tonumber(ARGV[3]))
    end
end
return 0
"""

# KEYS: address, ip. The address's count is cleared; the IP's try is given back.
_GIVE_BACK = """
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
    redis.call('DECR', KEYS[2])
end
return 0
"""


class ThrottleUnavailable(RuntimeError):
    """Redis does not answer; sign-in is refused rather than left unlimited."""


@dataclass(frozen=True)
class LoginThrottle:
    client: redis.Redis
    max_per_address: int
    max_per_ip: int
    window_seconds: int

    def _keys(self, address_key: str, ip: str) -> list[str]:
        digest = hashlib.sha256(address_key.encode("utf-8", "replace")).hexdigest()
        return [f"{KEY_PREFIX}:address:{digest}", f"{KEY_PREFIX}:ip:{ip}"]

    def take_attempt(self, address_key: str, ip: str) -> int:
        """Spend one try of the address's and the IP's budgets: 0 if this sign-in may check
        its password now, else how many seconds until it may (nothing is spent then).

        `address_key` is the canonical address (`accounts.sign_in_key`), never the typed text.
        """
        try:
            wait = self.client.eval(
                _TAKE_ATTEMPT,
                2,
                *self._keys(address_key, ip),
                self.max_per_address,
                self.max_per_ip,
                self.window_seconds,
            )
        except redis.RedisError as error:
            raise ThrottleUnavailable(str(error)) from None
        return int(wait)

    def record_success(self, address_key: str, ip: str) -> None:
        """A correct password clears the address's count and returns the IP's try."""
        try:
            self.client.eval(_GIVE_BACK, 2, *self._keys(address_key, ip))
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
