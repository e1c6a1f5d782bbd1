"""Chat's jobs: tell both people's sockets that a conversation has ended."""

from __future__ import annotations

import functools
import uuid

from valkey.asyncio import Valkey

from server import settings
from server.chat import fanout
from server.platform import cache
from server.platform.events import Job


@functools.cache
def _valkey() -> Valkey:
    return cache.client_for(settings.current())


async def end_conversation(job: Job) -> None:
    """``match_ended`` to both people's sockets, which stop offering the conversation (at most once: an app
    that misses it finds the match gone from its lists and gets 404 on it)."""
    people = [uuid.UUID(person) for person in job.payload["userIds"]]
    await fanout.deliver(_valkey(), people, fanout.frame("match_ended", {"matchId": job.payload["matchId"]}))
