"""Fixed-window counters in Valkey. When Valkey is down, limits fail open and say so in the log:
availability of sign-in wins, and Argon2's cost still bounds guessing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

from server.errors import RateLimited

log = logging.getLogger("harvest.ratelimit")


# Count and start the window in one atomic call: one round trip, and no counter left without expiry.
_COUNT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2], 'NX')
return {count, redis.call('TTL', KEYS[1])}
"""


class RateLimiter:
    def __init__(self, valkey: Valkey, prefix: str = "rl") -> None:
        self.valkey = valkey
        self.prefix = prefix

    async def hit(
        self, name: str, key: str, limit: int, window_seconds: int, *, also: Sequence[tuple[Any, ...]] = ()
    ) -> list[Any] | None:
        """Count one event; past ``limit`` in the window, refuse it with the seconds left.

        ``also`` are more Valkey commands for the same round trip; their replies are returned, or None
        when Valkey is unreachable (the event is then allowed, and the caller decides about the rest).
        """
        count, ttl, replies = await self._count(name, key, window_seconds, 1, also)
        if count > limit:
            raise RateLimited("too many requests; try again later", retry_after=max(ttl, 1))
        return replies

    async def check(self, name: str, key: str, limit: int, window_seconds: int) -> None:
        """Refuse when the window is already full, without counting this attempt."""
        count, ttl, _ = await self._count(name, key, window_seconds, 0, ())
        if count >= limit:
            raise RateLimited("too many attempts; try again later", retry_after=max(ttl, 1))

    async def clear(self, name: str, key: str) -> None:
        try:
            await self.valkey.delete(f"{self.prefix}:{name}:{key}")
        except (ValkeyError, OSError):
            log.warning("rate limit store unreachable", extra={"limit": name})

    async def _count(
        self, name: str, key: str, window_seconds: int, add: int, also: Sequence[tuple[Any, ...]]
    ) -> tuple[int, int, list[Any] | None]:
        counter = f"{self.prefix}:{name}:{key}"
        try:
            async with self.valkey.pipeline(transaction=False) as pipe:
                # EVAL rather than EVALSHA: a pipeline would otherwise ask whether the script is loaded first.
                pipe.eval(_COUNT, 1, counter, str(add), str(window_seconds))
                for command in also:
                    pipe.execute_command(*command)
                (count, ttl), *replies = await pipe.execute()
        except (ValkeyError, OSError):
            log.warning("rate limit store unreachable; allowing the request", extra={"limit": name})
            return 0, 0, None
        return int(count), int(ttl), replies
