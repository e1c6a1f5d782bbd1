"""Who is online: each open socket renews its entry in its person's sorted set (member: socket id, score: when
the entry lapses), so a process that dies without saying goodbye leaves entries that lapse by themselves.

A person is online while one entry has not lapsed. Presence is shown only to the person's matches (the
socket layer decides who hears of it); it also tells ``send`` whether a recipient needs a notification.
"""

from __future__ import annotations

import time
import uuid

from valkey.asyncio import Valkey


def _key(user_id: uuid.UUID) -> str:
    return f"presence:{user_id}"


class Presence:
    def __init__(self, valkey: Valkey, seconds: int) -> None:
        self.valkey = valkey
        self.seconds = seconds

    async def renew(self, user_id: uuid.UUID, socket_id: str) -> int:
        """Keep the socket's entry alive; how many of the person's other sockets were online (0: this made the
        person come online)."""
        now = time.time()
        key = _key(user_id)
        async with self.valkey.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zcard(key)
            pipe.zadd(key, {socket_id: now + self.seconds})
            pipe.expire(key, self.seconds)
            _, before, added, _ = await pipe.execute()
        # A renewal finds its own entry among those counted: only the others are told.
        return int(before) - (1 - int(added))

    async def leave(self, user_id: uuid.UUID, socket_id: str) -> bool:
        """Drop the socket's entry; True when that made the person go offline."""
        key = _key(user_id)
        async with self.valkey.pipeline(transaction=True) as pipe:
            pipe.zrem(key, socket_id)
            pipe.zcount(key, time.time(), "+inf")
            removed, left = await pipe.execute()
        return bool(removed) and int(left) == 0

    async def online(self, people: list[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``people`` with a socket whose entry has not lapsed."""
        if not people:
            return set()
        now = time.time()
        async with self.valkey.pipeline(transaction=False) as pipe:
            for person in people:
                pipe.zcount(_key(person), now, "+inf")
            counts = await pipe.execute()
        return {person for person, count in zip(people, counts, strict=True) if int(count) > 0}


def presence_keys(user_id: uuid.UUID) -> list[str]:
    return [_key(user_id)]
