"""Which measures stand against an account now: read by sign-in (suspended and banned people cannot sign in) and
by discovery (restricted, suspended and banned people are in no deck). A measure stands from its strike until
its end date, if it has one, unless an appeal overturned it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import NamedTuple

import asyncpg

_STANDING = """
SELECT measure, until FROM moderation_strikes
WHERE user_id = $1 AND measure <> 'warn' AND overturned_at IS NULL AND (until IS NULL OR until > now())
"""


class Barred(NamedTuple):
    measure: str
    #: None: until a moderator lifts it
    until: dt.datetime | None


async def standing(connection: asyncpg.Connection, user_id: uuid.UUID) -> set[str]:
    """The measures standing against the person now: restrict, suspend, ban."""
    return {row["measure"] for row in await connection.fetch(_STANDING, user_id)}


async def barred(connection: asyncpg.Connection, user_id: uuid.UUID) -> Barred | None:
    """The suspension or ban that keeps the person from signing in, the longest if several."""
    rows = [row for row in await connection.fetch(_STANDING, user_id) if row["measure"] in ("suspend", "ban")]
    if not rows:
        return None
    longest = max(rows, key=lambda row: row["until"] or dt.datetime.max.replace(tzinfo=dt.UTC))
    return Barred(longest["measure"], longest["until"])


async def barred_among(connection: asyncpg.Connection, user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``user_ids`` a suspension or ban stands against now: left out of their matches' lists while it
    stands, back when it ends."""
    rows = await connection.fetch(
        "SELECT DISTINCT user_id FROM moderation_strikes WHERE user_id = ANY($1::uuid[])"
        " AND measure IN ('suspend', 'ban') AND overturned_at IS NULL AND (until IS NULL OR until > now())",
        user_ids,
    )
    return {row["user_id"] for row in rows}


def refusal(found: Barred) -> str:
    """What sign-in says to a barred person: what stands and until when, and that they may appeal."""
    if found.measure == "ban":
        return "this account is banned; the statement of reasons we emailed says how to appeal"
    end = f"until {found.until:%Y-%m-%d %H:%M} UTC" if found.until else "until a moderator lifts it"
    return f"this account is suspended {end}; the statement of reasons we emailed says how to appeal"
