"""Who is online: each open socket renews its entry in its person's sorted set (member: socket id, score: when
the entry lapses), so a process that dies without saying goodbye leaves entries that lapse by themselves.

A person is online while one entry has not lapsed. Presence is shown only to the person's matches (the
socket layer decides who hears of it); it also tells ``send`` whether a recipient needs a notification.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

log = logging.getLogger("harvest.chat.presence")


def _key(user_id: uuid.UUID) -> str:
    return f"presence:{user_id}"


def count_online(user_id: uuid.UUID) -> tuple[str, str, float, str]:
    """The command counting the person's live entries (more than 0: online), to send along with others."""
    return ("ZCOUNT", _key(user_id), time.time(), "+inf")


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
        async with self.valkey.pipeline(transaction=False) as pipe:
            for person in people:
                pipe.execute_command(*count_online(person))
            counts = await pipe.execute()
        return {person for person, count in zip(people, counts, strict=True) if int(count) > 0}


class Renewals:
    """The entries of this process's sockets, renewed together: one pipeline of a thousand renewals at a time
    every half ``seconds``, rather than a round trip per socket (20,000 sockets would be 700 a second)."""

    def __init__(self, valkey: Valkey, seconds: int) -> None:
        self.valkey = valkey
        self.seconds = seconds
        self.sockets: dict[str, uuid.UUID] = {}

    def add(self, user_id: uuid.UUID, socket_id: str) -> None:
        self.sockets[socket_id] = user_id

    def discard(self, socket_id: str) -> None:
        self.sockets.pop(socket_id, None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 2)
            try:
                await self.renew_all()
            except (ValkeyError, OSError) as exc:
                log.warning("presence not renewed; entries lapse unless renewed soon", extra={"error": str(exc)})

    async def renew_all(self) -> None:
        until = time.time() + self.seconds
        entries = list(self.sockets.items())
        for start in range(0, len(entries), 1000):
            chunk = entries[start : start + 1000]
            async with self.valkey.pipeline(transaction=False) as pipe:
                for socket_id, user_id in chunk:
                    pipe.zadd(_key(user_id), {socket_id: until})
                    pipe.expire(_key(user_id), self.seconds)
                await pipe.execute()


def presence_keys(user_id: uuid.UUID) -> list[str]:
    return [_key(user_id)]
