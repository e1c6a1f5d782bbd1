"""Blocks: one person keeps another away, both ways, without the other being told.

A block ends the two people's standing match through matching's own unmatch (so the other side hears exactly
what an unmatch tells them: ``match_ended`` on their sockets, the match gone from their lists) and drops what
either was still to be told of the other, all in the block's transaction. It takes the pair's lock, as a swipe
making a match does, so a match and a block between the same two people never cross: whichever commits second
sees the first. Unblocking lifts the block and nothing more; an ended match stays ended.
"""

from __future__ import annotations

import datetime as dt
import uuid

from piccolo.engine.postgres import PostgresEngine

from server.auth import accounts
from server.errors import FieldError, Invalid, NotFound
from server.matching.service import MatchService
from server.notifications.service import forget_between
from server.platform import database
from server.safety.schemas import Block, BlockList
from server.web.pagination import PageRequest


class BlockService:
    def __init__(self, db: PostgresEngine, matches: MatchService) -> None:
        self.db = db
        self.matches = matches

    async def block(self, user_id: uuid.UUID, other: uuid.UUID) -> tuple[Block, bool]:
        """Block ``other``; the block and whether it is new (False: it stood already, and nothing changed)."""
        if other == user_id:
            raise Invalid("you cannot block yourself", errors=[FieldError("userId", "that is your own id")])
        person = await accounts.identity(other)
        if person is None:
            raise NotFound("no such person")
        async with self.db.transaction(), database.connection(self.db) as connection:
            created_at = await connection.fetchval(
                "INSERT INTO safety_blocks (blocker, blocked) VALUES ($1, $2) ON CONFLICT DO NOTHING"
                " RETURNING created_at",
                user_id,
                other,
            )
            if created_at is None:
                stood = await connection.fetchval(
                    "SELECT created_at FROM safety_blocks WHERE blocker = $1 AND blocked = $2", user_id, other
                )
                return Block(user_id=other, first_name=person.first_name, created_at=stood), False
            await self.matches.end_with(connection, user_id, other)
            await forget_between(connection, user_id, other)
        return Block(user_id=other, first_name=person.first_name, created_at=created_at), True

    async def unblock(self, user_id: uuid.UUID, other: uuid.UUID) -> None:
        async with database.connection(self.db) as connection:
            gone = await connection.fetchval(
                "DELETE FROM safety_blocks WHERE blocker = $1 AND blocked = $2 RETURNING blocked", user_id, other
            )
        if gone is None:
            raise NotFound("you have not blocked this person")

    async def blocks(self, user_id: uuid.UUID, page: PageRequest) -> BlockList:
        """The people the caller blocked, most recent first (never who blocked them)."""
        after = page.after or [None, None]
        async with database.connection(self.db) as connection:
            rows = await connection.fetch(
                "SELECT blocked, created_at FROM safety_blocks WHERE blocker = $1"
                " AND ($2::timestamptz IS NULL OR (created_at, blocked) < ($2::timestamptz, $3::uuid))"
                " ORDER BY created_at DESC, blocked DESC LIMIT $4",
                user_id,
                dt.datetime.fromisoformat(after[0]) if after[0] else None,
                uuid.UUID(after[1]) if after[1] else None,
                page.limit + 1,
            )
        shown, next_cursor = page.split(rows, lambda row: [row["created_at"].isoformat(), str(row["blocked"])])
        names = await accounts.identities([row["blocked"] for row in shown])
        items = [
            Block(user_id=row["blocked"], first_name=names[row["blocked"]].first_name, created_at=row["created_at"])
            for row in shown
            if row["blocked"] in names
        ]
        return BlockList(items=items, next_cursor=next_cursor)
