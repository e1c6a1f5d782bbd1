"""Conversations, messages and chat photos in export and erasure.

A conversation belongs to both its people, and it goes whole when either of them erases their account: every
message of both sides and every photo sent in it. The other person keeps nothing of it. What they wrote was
addressed to someone who is gone, and half a conversation — their side only — would still speak of the erased
person. (Their copy of the match goes with matching's erasure just the same.) Rows go in the erasure's
transaction; the photos' objects by a job committed with it.
"""

from __future__ import annotations

import uuid
from typing import Any

from server import settings as settings_module
from server.chat.photos import PURGE_PHOTOS
from server.chat.presence import presence_keys
from server.photos.media import MediaSigner
from server.platform import database
from server.platform.events import publish
from server.privacy.registry import DomainData


async def export(user_id: uuid.UUID) -> dict[str, Any]:
    """The messages the person sent and the photos they uploaded; what the other person wrote is theirs.
    Photos come with short-lived links while their match stands (after that nobody is served them)."""
    signer = MediaSigner.from_settings(settings_module.current())
    async with database.connection(database.engine()) as connection:
        messages = await connection.fetch(
            "SELECT match_id, seq, type, content, created_at, photo_id FROM chat_messages WHERE sender = $1"
            " ORDER BY created_at, match_id, seq",
            user_id,
        )
        photos = await connection.fetch(
            "SELECT p.id, p.match_id, p.width, p.height, p.created_at, m.ended_at IS NULL AS standing"
            " FROM chat_photos p JOIN matches m ON m.id = p.match_id WHERE p.owner = $1 ORDER BY p.created_at",
            user_id,
        )
    return {
        "messages": [dict(row) for row in messages],
        "photos": [
            {key: row[key] for key in ("id", "match_id", "width", "height", "created_at")}
            | {"urls": signer.urls(row["id"], scope="chat") if row["standing"] else None}
            for row in photos
        ],
    }


async def erase(user_id: uuid.UUID) -> None:
    """Every conversation of the person's matches, both sides, standing or ended."""
    async with database.connection(database.engine()) as connection:
        # Locked first, in a statement of its own: a photo upload holding one of these matches commits before
        # this goes on, and the select below (a new snapshot) sees its row; later uploads find no match.
        matches = await connection.fetch(
            "SELECT id FROM matches WHERE user_a = $1 OR user_b = $1 ORDER BY id FOR UPDATE", user_id
        )
        match_ids = [row["id"] for row in matches]
        await connection.execute("DELETE FROM chat_messages WHERE match_id = ANY($1)", match_ids)
        await connection.execute("DELETE FROM chat_conversations WHERE match_id = ANY($1)", match_ids)
        photos = await connection.fetch("DELETE FROM chat_photos WHERE match_id = ANY($1) RETURNING id", match_ids)
    if photos:
        # The job names photos, not people, so nothing in the queue points back at either of them.
        await publish(PURGE_PHOTOS, {"photoIds": [str(row["id"]) for row in photos]})


PRIVACY = DomainData(
    name="chat",
    tables=("chat_conversations", "chat_photos", "chat_messages"),
    export=export,
    erase=erase,
    # Whether the person is online: the entries lapse within a minute anyway, but erasure leaves nothing behind.
    cache_keys=presence_keys,
)
