"""Blocks as other domains see them: whether two people are kept apart, asked cheaply and either way round.

A block is one row, (blocker, blocked), but it works both ways: neither person is shown to the other anywhere.
Whoever lists or shows people asks here, in one query for many people (``blocked_between``) or as one more
anti-join in a query of its own (``unblocked``); each direction is one probe of an index (the primary key, or
``safety_blocks_blocked``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

import asyncpg

_BETWEEN = """
SELECT blocked AS other FROM safety_blocks WHERE blocker = $1 AND blocked = ANY($2::uuid[])
UNION
SELECT blocker FROM safety_blocks WHERE blocked = $1 AND blocker = ANY($2::uuid[])
"""

_UNBLOCKED = (
    "NOT EXISTS (SELECT 1 FROM safety_blocks kept_apart WHERE (kept_apart.blocker = {one} AND kept_apart.blocked"
    " = {other}) OR (kept_apart.blocker = {other} AND kept_apart.blocked = {one}))"
)


def unblocked(one: str, other: str) -> str:
    """A SQL condition, true when neither of two people blocked the other; ``one`` and ``other`` are SQL
    expressions (a column, a placeholder) of their ids, written in by the caller's own query."""
    return _UNBLOCKED.format(one=one, other=other)


async def blocked_between(
    connection: asyncpg.Connection, user_id: uuid.UUID, others: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of ``others`` who blocked the person or whom the person blocked; one query, none for no one."""
    if not others:
        return set()
    return {row["other"] for row in await connection.fetch(_BETWEEN, user_id, list(others))}
