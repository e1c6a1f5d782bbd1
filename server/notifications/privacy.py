"""Notifications in export and erasure.

A person's notifications go with them. Those of the people they matched name them too, and go as well: each
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
    return {"notifications": [dict(row) | {"data": json.loads(row["data"])} for row in rows]}


async def erase(user_id: uuid.UUID) -> None:
    async with database.connection(database.engine()) as connection:
        await connection.execute("DELETE FROM notifications WHERE user_id = $1", user_id)


PRIVACY = DomainData(name="notifications", tables=("notifications",), export=export, erase=erase)
