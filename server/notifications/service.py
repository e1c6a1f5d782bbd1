"""In-app notifications: stored from domain events by the worker, listed and marked read by their person.

A match is one notification per side. Messages are one notification per conversation while it is unread: each
further waiting message adds to its count and moves it up, and once it is read the next message starts a new
one. Each message is counted once, however often its event is handled, because the notification keeps the ids
of the messages it counts. Notifications hold ids only, never what a message says.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import msgspec
from piccolo.engine.postgres import PostgresEngine

from server.errors import FieldError, Invalid, NotFound
from server.notifications import devices
from server.notifications import preferences as preference_store
from server.notifications.deliveries import owe_notification
from server.notifications.devices import Device, DeviceRegistration
from server.notifications.preferences import Preferences, PreferencesChange, QuietHours
from server.notifications.schemas import Notification, NotificationData, NotificationList
from server.platform import database
from server.web.pagination import PageRequest

#: A new unread notification of the conversation, or the one already there counting one more message; nothing
#: (no row back) when the message is counted already, by an unread notification or one read since.
_NOTE_MESSAGE = """
INSERT INTO notifications (id, user_id, kind, match_id, data, message_ids)
SELECT $1, $2, 'message', $3, $4::jsonb, ARRAY[$5::uuid]
WHERE NOT EXISTS (
    SELECT 1 FROM notifications WHERE match_id = $3 AND user_id = $2 AND kind = 'message' AND $5 = ANY(message_ids)
)
ON CONFLICT (user_id, match_id) WHERE kind = 'message' AND read_at IS NULL DO UPDATE
SET message_ids = notifications.message_ids || EXCLUDED.message_ids, data = EXCLUDED.data, created_at = now()
WHERE NOT EXCLUDED.message_ids[1] = ANY(notifications.message_ids)
RETURNING id, kind, data, cardinality(message_ids) AS counted, created_at, read_at
"""

_NOTE_LIKE = """
INSERT INTO notifications (id, user_id, kind, about_user_id, data) VALUES ($1, $2, 'like', $3, $4::jsonb)
ON CONFLICT (user_id, about_user_id) WHERE kind = 'like' DO NOTHING
RETURNING id, kind, data, cardinality(message_ids) AS counted, created_at, read_at
"""

_NOTE_MATCH = """
INSERT INTO notifications (id, user_id, kind, match_id, data) VALUES ($1, $2, 'match', $3, $4::jsonb)
ON CONFLICT (user_id, match_id) WHERE kind = 'match' DO NOTHING
RETURNING id, kind, data, cardinality(message_ids) AS counted, created_at, read_at
"""


#: both people's notifications naming the other (a like names its liker, a match or a message the other side),
#: and the pushes about them still waiting: a like's about is the liker, a match's or a message's the match
_FORGET = """
WITH gone AS (
    DELETE FROM notifications
    WHERE (user_id = $1 AND (about_user_id = $2 OR data ->> 'otherUserId' = $2::text))
       OR (user_id = $2 AND (about_user_id = $1 OR data ->> 'otherUserId' = $1::text))
    RETURNING user_id, kind, coalesce(match_id, about_user_id) AS about
)
DELETE FROM notification_deliveries d USING gone
WHERE d.state = 'pending' AND d.user_id = gone.user_id AND d.kind = gone.kind AND d.about = gone.about
"""


async def forget_between(connection: asyncpg.Connection, one: uuid.UUID, other: uuid.UUID) -> None:
    """Drop, in the caller's transaction, what either of two people was to be told of the other (a block):
    their notifications naming each other, and the pushes about those still waiting to be sent."""
    await connection.execute(_FORGET, one, other)


def _view(row: asyncpg.Record) -> Notification:
    return Notification(
        id=row["id"],
        kind=row["kind"],
        data=msgspec.json.decode(row["data"], type=NotificationData),
        count=row["counted"] if row["kind"] == "message" else None,
        created_at=row["created_at"],
        read_at=row["read_at"],
    )


class NotificationService:
    def __init__(self, db: PostgresEngine) -> None:
        self.db = db

    async def note_message(
        self, user_id: uuid.UUID, match_id: uuid.UUID, message_id: uuid.UUID, sender_id: uuid.UUID
    ) -> Notification | None:
        """Count a message waiting for the person; the notification as it now stands, or None if the message
        was counted before (or its match is gone)."""
        data = NotificationData(match_id=match_id, other_user_id=sender_id, message_id=message_id)
        return await self._note(_NOTE_MESSAGE, user_id, match_id, data, message_id)

    async def note_like(self, user_id: uuid.UUID, liker_id: uuid.UUID) -> Notification | None:
        """The person's notification that someone superliked them; one per liker."""
        return await self._note(_NOTE_LIKE, user_id, liker_id, NotificationData(other_user_id=liker_id))

    async def note_match(self, user_id: uuid.UUID, match_id: uuid.UUID, other_id: uuid.UUID) -> Notification | None:
        """The person's notification of a new match; None if they have it already (or the match is gone)."""
        return await self._note(
            _NOTE_MATCH, user_id, match_id, NotificationData(match_id=match_id, other_user_id=other_id)
        )

    async def _note(
        self, statement: str, user_id: uuid.UUID, about: uuid.UUID, data: NotificationData, *more: Any
    ) -> Notification | None:
        """Store the notification and, in the same transaction, the pushes or email it owes: a listener that dies
        between the two leaves neither, and its retry makes both."""
        body = msgspec.json.encode(data).decode()
        try:
            async with database.connection(self.db) as connection, connection.transaction():
                row = await connection.fetchrow(statement, uuid.uuid4(), user_id, about, body, *more)
                if row is not None:
                    await owe_notification(connection, user_id, row["kind"], about, data.message_id)
        except asyncpg.ForeignKeyViolationError:
            # The match or a person was erased after the event: there is nobody left to tell, or nothing to.
            return None
        return _view(row) if row else None

    async def notifications(self, user_id: uuid.UUID, page: PageRequest) -> NotificationList:
        """The person's notifications, newest first, read or not."""
        after = page.after or [None, None]
        async with database.connection(self.db) as connection:
            rows = await connection.fetch(
                "SELECT id, kind, data, cardinality(message_ids) AS counted, created_at, read_at"
                " FROM notifications WHERE user_id = $1"
                " AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))"
                " ORDER BY created_at DESC, id DESC LIMIT $4",
                user_id,
                dt.datetime.fromisoformat(after[0]) if after[0] else None,
                uuid.UUID(after[1]) if after[1] else None,
                page.limit + 1,
            )
        shown, next_cursor = page.split(rows, lambda row: [row["created_at"].isoformat(), str(row["id"])])
        return NotificationList(items=[_view(row) for row in shown], next_cursor=next_cursor)

    async def read(self, user_id: uuid.UUID, notification_id: uuid.UUID) -> None:
        """Mark one of the person's notifications read (again is fine); 404 for anyone else's."""
        async with database.connection(self.db) as connection:
            found = await connection.fetchval(
                "UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE id = $1 AND user_id = $2"
                " RETURNING id",
                notification_id,
                user_id,
            )
        if found is None:
            raise NotFound("no such notification")

    async def register_device(
        self, user_id: uuid.UUID, session_id: uuid.UUID, registration: DeviceRegistration
    ) -> tuple[Device, bool]:
        async with database.connection(self.db) as connection:
            return await devices.register(connection, user_id, session_id, registration)

    async def remove_device(self, user_id: uuid.UUID, device_id: uuid.UUID) -> None:
        async with database.connection(self.db) as connection:
            await devices.remove(connection, user_id, device_id)

    async def preferences(self, user_id: uuid.UUID) -> Preferences:
        async with database.connection(self.db) as connection:
            return await preference_store.preferences(connection, user_id)

    async def change_preferences(self, user_id: uuid.UUID, change: PreferencesChange) -> Preferences:
        quiet = change.quiet_hours
        if isinstance(quiet, QuietHours) and quiet.start == quiet.end:
            raise Invalid(
                "quiet hours must end at another time than they start",
                errors=[FieldError("quietHours", "start and end are equal; send null to turn quiet hours off")],
            )
        async with database.connection(self.db) as connection, connection.transaction():
            await preference_store.change(connection, user_id, change)
            return await preference_store.preferences(connection, user_id)
