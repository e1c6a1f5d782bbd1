"""Password guessing is throttled without handing strangers a way to lock the owner out.

Every login attempt is reserved in Valkey, atomically and *before* the password is verified, so
concurrent attempts cannot slip past a limit that was checked and counted separately.

Who is asking decides which limits apply:

* A **known client** is a device or an address that has signed in to this account before (within
  ``KNOWN_FOR``). A device proves itself with the ``deviceToken`` every sign-in hands out; an
  address is known by its hash. A known client has only its own budget: ``failures_per_client``
  wrong passwords per window. Strangers' failures never refuse it, so the owner's correct password
  from their own phone or usual network always gets through.
* Any **other client** (a new address without a known device token) has that same per-client
  budget, and in addition shares one per-account budget with every other unknown client: the first
  ``attempts_before_delay`` attempts in an hour go straight through; after that each attempt must
  wait for a slot, and the wait doubles (1 s, 2 s, 4 s… up to ``max_delay_seconds``). Refused
  attempts answer 429 with Retry-After and are not verified, so distributed guessing is slowed to one
  verification per ``max_delay_seconds`` per account. The slot goes to whoever asks first when it frees,
  so this budget protects the password, not the unknown client's access (see below).
* A correct password gives its reservation back (the client's failures are forgiven); a completed
  password reset clears every counter of the account and forgets its known clients (the owner's
  next sign-in makes its client known again).

What an attacker can still do:

* Guess about ``attempts_before_delay`` + 3600 / ``max_delay_seconds`` passwords per account per
  hour from many addresses (about 75 with the defaults), and ``failures_per_client`` per window
  from each client; Argon2id and the breached-password list make those guesses expensive and poor.
* Keep the delay slot busy so that the owner, signing in from an address *and* device never seen
  before, keeps getting 429 with a Retry-After of up to ``max_delay_seconds``. The owner still gets
  in from any known device or address, with a provider sign-in, or right after a password reset.
* Someone sharing a known address (the same NAT) can use up that address's budget for a window; the
  owner's device token is unaffected.
* Learn nothing about whether an account exists: unknown emails are throttled exactly like real ones.

Valkey holds only hashes here (of the email, the address, the device token). When Valkey is
unreachable the throttle fails open, like every other limit: sign-in stays available and Argon2's
cost still bounds guessing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import cast

from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

from server.auth.tokens import hash_token, new_secret_token
from server.errors import RateLimited
from server.settings import LimitsSection

log = logging.getLogger("harvest.auth.throttle")

#: how long a device or address stays known after its last sign-in
KNOWN_FOR = 30 * 86400
#: the most known clients kept per account (the most recent ones)
KNOWN_MAX = 20
#: the first wait once the free attempts are used up; it doubles with every further attempt
FIRST_DELAY_MS = 1000
_HOUR = 3600

# KEYS: per-client failures (hash), unknown-client attempts, delay slot
# ARGV: client, per-client limit, window s, known (0/1: no shared budget), free attempts, first delay ms, max delay ms
# Returns {1, 0} when the attempt may be verified, or {0, seconds to wait}.
_RESERVE = """
-- A refused attempt gives its charge back; a client left at zero is dropped, so a stream of refused
-- attempts from ever new addresses leaves nothing behind.
local function give_back()
  if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then
    redis.call('HDEL', KEYS[1], ARGV[1])
  end
end
local failures = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[3], 'NX')
if failures > tonumber(ARGV[2]) then
  give_back()
  return {0, redis.call('TTL', KEYS[1])}
end
if ARGV[4] == '1' then
  return {1, 0}
end
local attempts = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 3600, 'NX')
local over = attempts - tonumber(ARGV[5])
if over > 0 then
  local delay = math.min(tonumber(ARGV[6]) * 2 ^ (over - 1), tonumber(ARGV[7]))
  if not redis.call('SET', KEYS[3], '1', 'PX', math.floor(delay), 'NX') then
    give_back()
    redis.call('DECR', KEYS[2])
    return {0, math.ceil(redis.call('PTTL', KEYS[3]) / 1000)}
  end
end
return {1, 0}
"""

# KEYS: per-client failures, unknown-client attempts, known clients
# ARGV: client, known (0/1: not charged to the shared budget), now, known-for s, keep at most, members...
_SUCCEED = """
redis.call('HDEL', KEYS[1], ARGV[1])
if ARGV[2] == '0' and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DECR', KEYS[2])
end
for i = 6, #ARGV do
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[4]))
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[5]) - 1)
redis.call('EXPIRE', KEYS[3], ARGV[4])
return 1
"""


def account_key(email: str) -> str:
    """Valkey names accounts by a hash of the normalised email, so it holds no email addresses."""
    return hashlib.sha256(email.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Attempt:
    """A reserved login attempt: the counter it was charged to and who made it."""

    account: str
    #: the per-client counter charged: the known device or address, else the address
    client: str
    #: charged to the account's shared budget for unknown clients (given back on success)
    shared: bool
    address: str
    #: the device token presented, when it is one this account knows
    device_token: str | None = None


class LoginThrottle:
    def __init__(self, valkey: Valkey, limits: LimitsSection) -> None:
        self.valkey = valkey
        self.limits = limits

    async def reserve(self, account: str, ip: str, device_token: str | None) -> Attempt:
        """Charge one attempt before the password is verified, or refuse it (429) without verifying."""
        address = _address_member(account, ip)
        device = _device_member(device_token) if device_token else None
        known_as = await self._known(account, [m for m in (device, address) if m])
        attempt = Attempt(
            account,
            client=known_as or address,
            shared=known_as is None,
            address=address,
            device_token=device_token if known_as is not None and known_as == device else None,
        )
        limits = self.limits
        args = [
            attempt.client,
            limits.login_failures_per_account_ip,
            limits.login_failure_window_minutes * 60,
            int(not attempt.shared),
            limits.login_attempts_before_delay,
            FIRST_DELAY_MS,
            limits.login_delay_max_seconds * 1000,
        ]
        try:
            reserve = self.valkey.eval(_RESERVE, 3, *_keys(account, "fails", "unknown", "slot"), *map(str, args))
            allowed, wait = await cast(Awaitable[list[int]], reserve)
        except (ValkeyError, OSError):
            log.warning("login throttle unreachable; allowing the attempt")
            return attempt
        if not int(allowed):
            raise RateLimited("too many sign-in attempts; try again later", retry_after=max(int(wait), 1))
        return attempt

    async def succeeded(self, attempt: Attempt) -> str:
        """Give the reservation back and remember this address and device; returns the device token to keep."""
        token = attempt.device_token or new_secret_token()[0]
        try:
            succeed = self.valkey.eval(
                _SUCCEED,
                3,
                *_keys(attempt.account, "fails", "unknown", "known"),
                attempt.client,
                str(int(not attempt.shared)),
                str(int(time.time())),
                str(KNOWN_FOR),
                str(KNOWN_MAX),
                attempt.address,
                _device_member(token),
            )
            await cast(Awaitable[object], succeed)
        except (ValkeyError, OSError):
            log.warning("login throttle unreachable; this client is not remembered")
        return token

    async def signed_in(self, account: str, ip: str) -> str:
        """A sign-in without a password (registration, a provider): the client becomes known all the same."""
        address = _address_member(account, ip)
        return await self.succeeded(Attempt(account, client=address, shared=False, address=address))

    async def clear(self, account: str) -> None:
        """When the account changes hands (a completed reset, a provider taking over an unverified account):
        nothing strangers did may stand in the owner's way, and no client stays known from before."""
        try:
            await self.valkey.delete(*_keys(account, "fails", "unknown", "slot", "known"))
        except (ValkeyError, OSError):
            log.warning("login throttle unreachable; counters not cleared")

    async def _known(self, account: str, members: list[str]) -> str | None:
        try:
            scores = await self.valkey.zmscore(_keys(account, "known")[0], members)
        except (ValkeyError, OSError):
            return None
        cutoff = time.time() - KNOWN_FOR
        return next((m for m, s in zip(members, scores, strict=True) if s is not None and s > cutoff), None)


def _keys(account: str, *names: str) -> list[str]:
    return [f"auth:login:{account}:{name}" for name in names]


def _address_member(account: str, ip: str) -> str:
    # Salted with the account, so one address does not read the same across accounts.
    return "ip:" + hashlib.sha256(f"{account}:{ip}".encode()).hexdigest()[:32]


def _device_member(token: str) -> str:
    return f"dev:{hash_token(token)[:32]}"
