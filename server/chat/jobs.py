"""Chat's jobs: tell both people's sockets that a conversation has ended; delete the objects of erased chat photos."""

from __future__ import annotations

import functools
import uuid

from valkey.asyncio import Valkey

from server import settings
from server.chat import fanout
from server.chat.photos import object_keys
from server.platform import cache
from server.platform.events import Job
from server.platform.storage import Storage


@functools.cache
def _valkey() -> Valkey:
    return cache.client_for(settings.current())


@functools.cache
def _storage() -> Storage:
    return Storage(settings.current())


async def end_conversation(job: Job) -> None:
    """``match_ended`` to both people's sockets, which stop offering the conversation (at most once: an app
    that misses it finds the match gone from its lists and gets 404 on it)."""
    people = [uuid.UUID(person) for person in job.payload["userIds"]]
    await fanout.deliver(_valkey(), people, fanout.frame("match_ended", {"matchId": job.payload["matchId"]}))


async def delete_photo_objects(job: Job) -> None:
    """Delete every variant of chat photos whose rows are gone; a run repeated finds nothing left to delete."""
    await _storage().remove("media", object_keys(job.payload["photoIds"]))
