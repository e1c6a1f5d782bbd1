"""Notifications' jobs: store what a person should hear of while away, then send it to any socket they have.

Each is safe to run twice: a message or a match is noted once, and only a run that changed something sends the
``notification`` frame (at most once: an app that misses it finds the notification in GET /api/notifications).
"""

from __future__ import annotations

import functools
import uuid

from valkey.asyncio import Valkey

from server import settings
from server.chat import fanout
from server.matching.pairs import matched_with
from server.notifications.schemas import Notification
from server.notifications.service import NotificationService
from server.platform import cache, database
from server.platform.events import Job
from server.safety.blocks import blocked_between


@functools.cache
def _valkey() -> Valkey:
    return cache.client_for(settings.current())


@functools.cache
def _notifications() -> NotificationService:
    return NotificationService(database.engine())


async def _still_matched(user_id: uuid.UUID, other_id: uuid.UUID) -> bool:
    return other_id in await matched_with(user_id, [other_id])


async def _tell(user_id: uuid.UUID, notification: Notification | None) -> None:
    if notification is not None:
        await fanout.deliver(_valkey(), [user_id], fanout.frame("notification", {"notification": notification}))


async def note_message(job: Job) -> None:
    """A message stored for someone with no socket online (``chat.message_waiting``) counts towards their
    conversation's unread notification; not once its match has ended."""
    recipient, sender = uuid.UUID(job.payload["recipientId"]), uuid.UUID(job.payload["senderId"])
    if not await _still_matched(recipient, sender):
        return
    noted = await _notifications().note_message(
        recipient, uuid.UUID(job.payload["matchId"]), uuid.UUID(job.payload["messageId"]), sender
    )
    await _tell(recipient, noted)


async def note_match(job: Job) -> None:
    """A new match (``matching.match_created``, one event per side) is one notification for that side, while the
    match stands."""
    user_id, other_id = uuid.UUID(job.payload["userId"]), uuid.UUID(job.payload["otherUserId"])
    if not await _still_matched(user_id, other_id):
        return
    await _tell(user_id, await _notifications().note_match(user_id, uuid.UUID(job.payload["matchId"]), other_id))


async def note_like(job: Job) -> None:
    """A superlike that made no match (``matching.superliked``) is one notification for its target, unless a
    match came of it since (the match's own notification tells of that) or either of the two has blocked the
    other since (the block dropped what they were to hear of each other; this would bring it back)."""
    user_id, liker_id = uuid.UUID(job.payload["userId"]), uuid.UUID(job.payload["fromUserId"])
    if await _still_matched(user_id, liker_id):
        return
    async with database.connection(database.engine()) as connection:
        if await blocked_between(connection, user_id, [liker_id]):
            return
    await _tell(user_id, await _notifications().note_like(user_id, liker_id))
