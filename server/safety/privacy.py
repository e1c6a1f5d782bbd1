"""Blocks in export and erasure.

A person's export holds whom they blocked, never who blocked them: that would tell them of a block they were
never to hear of. Their erasure takes every block naming them, both ways (the foreign keys would too, when the
account goes; this runs in the erasure's transaction with the other domains).
"""

from __future__ import annotations

import uuid
from typing import Any

from server.platform import database
from server.privacy.registry import DomainData


async def export(user_id: uuid.UUID) -> dict[str, Any]:
    async with database.connection(database.engine()) as connection:
        rows = await connection.fetch(
            "SELECT blocked, created_at FROM safety_blocks WHERE blocker = $1 ORDER BY created_at", user_id
        )
        # The reports they filed; reports about them stay out, so no reporter is exposed to the one reported.
        filed = await connection.fetch(
            "SELECT id, reason, details, state, created_at FROM safety_reports WHERE reporter = $1 ORDER BY created_at",
            user_id,
        )
    return {"blocks": [dict(row) for row in rows], "reportsFiled": [dict(row) for row in filed]}


async def erase(user_id: uuid.UUID) -> None:
    async with database.connection(database.engine()) as connection:
        await connection.execute("DELETE FROM safety_blocks WHERE blocker = $1 OR blocked = $1", user_id)


# Reports keep their evidence (it names no one by id) for the moderators; the references to an erased reporter
# or reported person clear by themselves (ON DELETE SET NULL).
PRIVACY = DomainData(name="safety", tables=("safety_blocks", "safety_reports"), export=export, erase=erase)
