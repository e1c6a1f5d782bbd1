"""What a ban keeps, and for how long: a confirmed ban keeps the banned account (hidden everywhere) and the
evidence of the reports about it for ``[moderation] ban_evidence_days``, so an appeal or an authority's request
can still be answered; then the worker erases the account, as its owner's own erasure would, and the evidence
with it. A ban not yet confirmed by a second moderator, or overturned, erases nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey

from server.platform import database
from server.platform.storage import Storage
from server.privacy import registry

log = logging.getLogger("harvest.moderation")

#: how often the worker looks for bans past their keeping time
EVERY_SECONDS = 3600.0

_DUE = """
SELECT DISTINCT user_id FROM moderation_strikes
WHERE measure = 'ban' AND confirmed_by IS NOT NULL AND overturned_at IS NULL
  AND created_at < now() - $1 * interval '1 day'
LIMIT 100
"""


def _copies(evidence: dict[str, Any]) -> list[str]:
    """The object copies a report's evidence names (profile photos, photos sent in the conversation)."""
    photos = evidence.get("photos") or []
    messages = (evidence.get("conversation") or {}).get("messages") or []
    found = [photo.get("copy") for photo in photos] + [message.get("photoCopy") for message in messages]
    return [key for key in found if key]


async def _forget_evidence(connection: asyncpg.Connection, storage: Storage, user_id: uuid.UUID) -> None:
    async with connection.transaction():
        rows = await connection.fetch("SELECT evidence FROM safety_reports WHERE reported = $1 FOR UPDATE", user_id)
        await connection.execute(
            "UPDATE safety_reports SET evidence = jsonb_build_object('erasedAt', now()) WHERE reported = $1", user_id
        )
    keys = [key for row in rows for key in _copies(json.loads(row["evidence"]))]
    if keys:
        await storage.remove("media", keys)


async def erase_expired_bans(engine: PostgresEngine, valkey: Valkey, storage: Storage, days: int) -> int:
    """Erase the accounts whose confirmed ban is older than ``days``, with their reports' evidence; how many."""
    async with database.connection(engine) as connection:
        due = [row["user_id"] for row in await connection.fetch(_DUE, days)]
    for user_id in due:
        async with database.connection(engine) as connection:
            await _forget_evidence(connection, storage, user_id)
        await registry.erase(engine, valkey, user_id)
        log.info("banned account erased after its keeping time", extra={"user": str(user_id)})
    return len(due)


async def run(engine: PostgresEngine, valkey: Valkey, storage: Storage, days: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await erase_expired_bans(engine, valkey, storage, days)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("ban retention paused", extra={"error": str(exc)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=EVERY_SECONDS)
