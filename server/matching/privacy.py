"""Swipes, matches and activity in export and erasure."""

from __future__ import annotations

import uuid
from typing import Any

from server.matching.deck import deck_cache_keys
from server.matching.service import MATCH_ENDED
from server.platform import database
from server.platform.events import publish
from server.privacy.registry import DomainData


async def export(user_id: uuid.UUID) -> dict[str, Any]:
    async with database.connection(database.engine()) as connection:
        swipes = await connection.fetch(
            "SELECT target, action, created_at FROM swipes WHERE swiper = $1 ORDER BY created_at", user_id
        )
        matches = await connection.fetch(
            "SELECT id, CASE WHEN user_a = $1 THEN user_b ELSE user_a END AS other, created_at, ended_at,"
            " ended_by = $1 AS ended_by_me FROM matches WHERE user_a = $1 OR user_b = $1 ORDER BY created_at",
            user_id,
        )
        activity = await connection.fetchrow(
            "SELECT c.last_active_at, coalesce(e.shown, 0) AS shown, coalesce(e.liked, 0) AS liked"
            " FROM matching_candidates c LEFT JOIN matching_exposure e ON e.id = c.id WHERE c.id = $1",
            user_id,
        )
    return {
        "swipes": [dict(row) for row in swipes],
        "matches": [dict(row) for row in matches],
        #: how often the person was shown in others' decks and liked, and when they were last active
        "activity": dict(activity) if activity else None,
    }


async def erase(user_id: uuid.UUID) -> None:
    """Swipes both ways and matches go with the person; the other side's match simply disappears, and their
    open sockets are told its conversation ended."""
    async with database.connection(database.engine()) as connection:
        standing = await connection.fetch(
            "SELECT id, user_a, user_b FROM matches WHERE (user_a = $1 OR user_b = $1) AND ended_at IS NULL", user_id
        )
        for match in standing:
            await publish(
                MATCH_ENDED, {"matchId": str(match["id"]), "userIds": [str(match["user_a"]), str(match["user_b"])]}
            )
        await connection.execute("DELETE FROM swipes WHERE swiper = $1 OR target = $1", user_id)
        await connection.execute("DELETE FROM matches WHERE user_a = $1 OR user_b = $1", user_id)
        await connection.execute("DELETE FROM matching_exposure WHERE id = $1", user_id)
        await connection.execute("DELETE FROM matching_candidates WHERE id = $1", user_id)


PRIVACY = DomainData(
    name="matching",
    tables=("swipes", "matches", "matching_candidates", "matching_exposure"),
    export=export,
    erase=erase,
    cache_keys=deck_cache_keys,
)
