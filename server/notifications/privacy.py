"""Notifications in export and erasure.

A person's notifications, devices, preferences and deliveries go with them (a device's token is left out of
the export: it addresses the phone at its provider, and is of no use to the person). Those of the people they matched name them too, and go as well: each
notification references its match, which matching's erasure deletes, and the foreign key cascades.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from server.platform import database
from server.privacy.registry import DomainData


async def export(user_id: uuid.UUID) -> dict[str, Any]:
    async with database.connection(database.engine()) as connection:
        rows = await connection.fetch(
            "SELECT id, kind, data, cardinality(message_ids) AS counted, created_at, read_at"
            " FROM notifications WHERE user_id = $1 ORDER BY created_at, id",
            user_id,
        )
        devices = await connection.fetch(
            "SELECT id, provider, platform, created_at FROM notification_devices WHERE user_id = $1 ORDER BY created_at",
            user_id,
        )
        preferences = await connection.fetchrow(
            "SELECT kinds, previews, quiet_start, quiet_end, updated_at FROM notification_preferences WHERE user_id = $1",
            user_id,
        )
        deliveries = await connection.fetch(
            "SELECT id, channel, kind, state, attempts, created_at, sent_at FROM notification_deliveries"
            " WHERE user_id = $1 ORDER BY created_at",
            user_id,
        )
    return {
        "notifications": [dict(row) | {"data": json.loads(row["data"])} for row in rows],
        "devices": [dict(row) for row in devices],
        "preferences": dict(preferences) | {"kinds": json.loads(preferences["kinds"])} if preferences else None,
        "deliveries": [dict(row) for row in deliveries],
    }


async def erase(user_id: uuid.UUID) -> None:
    async with database.connection(database.engine()) as connection:
        # A like still owed to its target names the liker.
        await connection.execute("DELETE FROM notification_deliveries WHERE about = $1", user_id)
        for table in _TABLES:
            await connection.execute(f"DELETE FROM {table} WHERE user_id = $1", user_id)  # noqa: S608 - names above


#: deliveries first: they reference the devices
_TABLES = ("notification_deliveries", "notifications", "notification_devices", "notification_preferences")

PRIVACY = DomainData(name="notifications", tables=_TABLES, export=export, erase=erase)
