"""What a push says. Lock screens are public: a message push names who wrote and how many, and shows what they
wrote only to a person who turned previews on; a like never says who."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from server.notifications.providers.base import Push

_PREVIEW_CHARACTERS = 120

#: per claimed match push: the other person's first name, while the match stands
_OTHERS = """
SELECT d.id, u.first_name
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS d (id, user_id, match_id)
JOIN matches m ON m.id = d.match_id AND m.ended_at IS NULL AND d.user_id IN (m.user_a, m.user_b)
JOIN users u ON u.id = CASE WHEN m.user_a = d.user_id THEN m.user_b ELSE m.user_a END
"""

#: the messages a preview may show, each looked up by id: two people of one match who write to each other are
#: owed one push each, and each push shows the latest of its own ids, never the other's (their own words)
_PREVIEWED = "SELECT id, seq, type, content FROM chat_messages WHERE id = ANY($1::uuid[])"

_UNREAD = "SELECT user_id, count(*) AS unread FROM notifications WHERE user_id = ANY($1::uuid[]) AND read_at IS NULL"


@dataclass(frozen=True)
class Owed:
    """A claimed push delivery."""

    id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    topic: str
    about: uuid.UUID
    message_ids: list[uuid.UUID]
    token: str
    provider: str


def _preview(kind: str, content: str) -> str:
    if kind == "image":
        return "Sent a photo"
    flat = " ".join(content.split())
    return flat if len(flat) <= _PREVIEW_CHARACTERS else flat[: _PREVIEW_CHARACTERS - 1] + "…"


async def compose(
    connection: asyncpg.Connection, owed: Sequence[Owed], previews: dict[uuid.UUID, bool]
) -> dict[uuid.UUID, Push]:
    """The pushes for these deliveries, by delivery id; a match or message push whose match has ended since is
    left out (nothing to open any more)."""
    about_matches = [row for row in owed if row.kind in ("match", "message")]
    names = {
        row["id"]: row["first_name"]
        for row in await connection.fetch(
            _OTHERS,
            [row.id for row in about_matches],
            [row.user_id for row in about_matches],
            [row.about for row in about_matches],
        )
    }
    wanted = [message for row in owed if previews.get(row.user_id) for message in row.message_ids]
    messages = {row["id"]: row for row in await connection.fetch(_PREVIEWED, wanted)} if wanted else {}
    unread = {
        row["user_id"]: row["unread"]
        for row in await connection.fetch(_UNREAD + " GROUP BY user_id", list({row.user_id for row in owed}))
    }
    pushes = {}
    for row in owed:
        if row.kind == "like":
            title, body = "Someone super liked you", "Open Harvest to see who."
        elif row.id not in names:
            continue
        elif row.kind == "match":
            title, body = "It's a match!", f"You and {names[row.id]} like each other."
        else:
            count = len(row.message_ids)
            title = names[row.id] if count == 1 else f"{names[row.id]} ({count})"
            # Only the ids of people who allow previews were looked up.
            mine = [messages[message] for message in row.message_ids if message in messages]
            shown = max(mine, key=lambda message: message["seq"], default=None)
            if shown is not None:
                body = _preview(shown["type"], shown["content"])
            else:
                body = "New message" if count == 1 else f"{count} new messages"
        pushes[row.id] = Push(
            id=row.id,
            token=row.token,
            title=title,
            body=body,
            # Likes replace each other on the device under one id that names no one.
            collapse_id="likes" if row.kind == "like" else row.topic,
            thread_id="likes" if row.kind == "like" else row.topic,
            badge=unread.get(row.user_id, 0),
            # A like's push names no one, not even to the provider; the app opens its likes.
            data={"kind": row.kind, "deliveryId": str(row.id)}
            | ({} if row.kind == "like" else {"matchId": str(row.about)}),
        )
    return pushes
