"""What is owed to whom: one row per (notification, device) push and per email, from the moment it is owed.

A delivery is written in the transaction that made its notification, so a notification never exists without
what it owes, and a listener run twice (which notes nothing the second time) owes nothing twice. Pushes of one
device and topic that are still pending are one row: a burst of messages in a conversation adds its message
ids there, and the dispatcher sends one push with the count.
"""

from __future__ import annotations

import uuid

import asyncpg

from server import settings as settings_module
from server.notifications.preferences import settled

#: NOTIFY channel that wakes the dispatchers when something is owed now
CHANNEL = "harvest_deliveries"
#: settled deliveries are kept this long, for the digest's "since the last one" and for support questions
KEEP_DAYS = 7

_OWE_PUSH = """
INSERT INTO notification_deliveries (id, user_id, channel, device_id, kind, topic, about, message_ids, due_at)
SELECT gen_random_uuid(), $1, 'push', d.id, $2, $3, $4, $5::uuid[], now() + $6 * interval '1 second'
FROM notification_devices d WHERE d.user_id = $1
ON CONFLICT (device_id, topic) WHERE state = 'pending' AND channel = 'push'
DO UPDATE SET message_ids = notification_deliveries.message_ids || EXCLUDED.message_ids
RETURNING id
"""

_OWE_EMAIL = """
INSERT INTO notification_deliveries (id, user_id, channel, kind, topic, due_at)
VALUES (gen_random_uuid(), $1, 'email', $2::text, $2::text, now() + $3 * interval '1 second')
ON CONFLICT (user_id, topic) WHERE state = 'pending' AND channel = 'email' DO NOTHING
"""


async def owe_notification(
    connection: asyncpg.Connection, user_id: uuid.UUID, kind: str, about: uuid.UUID, message_id: uuid.UUID | None
) -> None:
    """What a new (or newly counted) notification owes, as the person's preferences say, in the caller's
    transaction: a push to each of their devices, a place in the next digest email, or nothing."""
    preferences = (await settled(connection, [user_id])).get(user_id)
    if preferences is None:
        return
    mode = preferences.mode(kind)
    config = settings_module.current().config
    if mode == "digest":
        await owe_email(connection, user_id, "digest", delay_seconds=config.notifications.digest_minutes * 60)
    elif mode == "immediate":
        # A message waits a moment for the ones that follow it, so a burst is one push with its count.
        delay = config.push.collapse_seconds if kind == "message" else 0
        owed = await connection.fetch(
            _OWE_PUSH, user_id, kind, f"{kind}:{about}", about, [message_id] if message_id else [], delay
        )
        if owed and not delay:
            await connection.execute("SELECT pg_notify($1, '')", CHANNEL)


async def owe_email(connection: asyncpg.Connection, user_id: uuid.UUID, kind: str, *, delay_seconds: int = 0) -> None:
    """An email of this kind (digest, verify, reset); one already pending covers a second one owed meanwhile."""
    await connection.execute(_OWE_EMAIL, user_id, kind, delay_seconds)
    if not delay_seconds:
        await connection.execute("SELECT pg_notify($1, '')", CHANNEL)
