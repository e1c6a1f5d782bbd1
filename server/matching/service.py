"""Swipes and the matches they make.

A swipe is final and counted once: repeating it answers the same, changing it is refused. When both people
like each other there is exactly one match, however the two swipes interleave: each swipe takes a lock on
the pair before it looks for the other's, so the second to arrive always sees the first, and the pair's
unique key backs that up. The match is announced by one ``match_created`` event per side, committed with it.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass

import asyncpg
from piccolo.engine.postgres import PostgresEngine

from server.errors import Conflict, NotFound, RateLimited
from server.matching.schemas import Action, MatchList, MatchView, SwipeResult
from server.moderation import measures
from server.platform import database
from server.platform.events import publish
from server.profiles.service import ProfileService, time_zone_of
from server.safety.blocks import unblocked
from server.settings import MatchingSection
from server.web.pagination import PageRequest

MATCH_CREATED = "matching.match_created"
#: a match ended (unmatch, or one of the two erased): {matchId, userIds}
MATCH_ENDED = "matching.match_ended"
#: a superlike that made no match (yet): its target is told someone superliked them
SUPERLIKED = "matching.superliked"
_LIKES = ("like", "superlike")
#: someone ($1) the swiper ($2) may swipe in their world ($3)
_SWIPEABLE = " AND ".join(
    (
        "SELECT 1 FROM matching_candidates WHERE id = $1 AND id <> $2 AND listed AND synthetic = $3",
        unblocked("$1", "$2"),
    )
)
#: $1 liked $2, and neither blocked the other
_LIKED_BACK = " AND ".join(
    ("SELECT 1 FROM swipes WHERE swiper = $1 AND target = $2 AND action <> 'pass'", unblocked("$1", "$2"))
)


@dataclass(frozen=True)
class _Made:
    id: uuid.UUID
    other: uuid.UUID
    created_at: dt.datetime


def day_of(zone: dt.tzinfo, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Where the person's current day began and where it ends, in UTC."""
    local = now.astimezone(zone)
    start = dt.datetime.combine(local.date(), dt.time(), tzinfo=zone)
    end = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def zone_for(name: str | None, longitude: float | None) -> dt.tzinfo:
    """The person's time zone; until they set one, the hour offset their longitude suggests (UTC without)."""
    if name:
        return zoneinfo.ZoneInfo(name)
    if longitude is None:
        return dt.UTC
    return dt.timezone(dt.timedelta(hours=round(longitude / 15)))


def _pair(one: uuid.UUID, other: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    return (one, other) if one < other else (other, one)


async def lock_pair(connection: asyncpg.Connection, one: uuid.UUID, other: uuid.UUID) -> None:
    """Hold the pair for the caller's transaction: a match made and a block between them take turns."""
    user_a, user_b = _pair(one, other)
    await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"pair {user_a} {user_b}")


class MatchService:
    def __init__(self, db: PostgresEngine, profiles: ProfileService, settings: MatchingSection) -> None:
        self.db = db
        self.profiles = profiles
        self.settings = settings

    async def swipe(self, user_id: uuid.UUID, target_id: uuid.UUID, action: Action) -> SwipeResult:
        async with self.db.transaction(), database.connection(self.db) as connection:
            await self._check_visible(connection, user_id, target_id)
            before = await connection.fetchval(
                "SELECT action FROM swipes WHERE swiper = $1 AND target = $2", user_id, target_id
            )
            if before is None and action in _LIKES:
                # One like at a time per person, so two at once cannot both slip under the daily limit.
                await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"likes {user_id}")
                await self._check_limits(connection, user_id, action)
            if before is None:
                inserted = await connection.fetchval(
                    "INSERT INTO swipes (swiper, target, action) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING RETURNING action",
                    user_id,
                    target_id,
                    action,
                )
                # Lost a race with the same swipe sent twice at once: answer as a repeat of it.
                before = (
                    None
                    if inserted
                    else await connection.fetchval(
                        "SELECT action FROM swipes WHERE swiper = $1 AND target = $2", user_id, target_id
                    )
                )
            if before is not None:
                if before != action:
                    raise Conflict(f"you already swiped {before} on this person; a swipe cannot be changed")
                made = await self._standing_match(connection, user_id, target_id)
            elif action in _LIKES:
                made = await self._match_if_mutual(connection, user_id, target_id)
                if made is None and action == "superlike":
                    await publish(SUPERLIKED, {"userId": str(target_id), "fromUserId": str(user_id)})
            else:
                made = None
        if made is None:
            return SwipeResult(matched=False, match=None)
        return SwipeResult(matched=True, match=await self._view(user_id, made))

    async def _check_visible(self, connection: asyncpg.Connection, user_id: uuid.UUID, target_id: uuid.UUID) -> None:
        """409 for a swiper who is not in discovery (no place shared, or staff); 404 for oneself, anyone unknown
        or erased, anyone not listed in the swiper's world (seeded benchmark people and real people never
        meet), and anyone either of the two blocked (the same 404: a blocked person learns nothing of it)."""
        synthetic = await connection.fetchval("SELECT synthetic FROM matching_candidates WHERE id = $1", user_id)
        if synthetic is None:
            raise Conflict("share your location first (PUT /api/users/location): swipes are for people in decks")
        found = await connection.fetchval(
            _SWIPEABLE,
            target_id,
            user_id,
            synthetic,
        )
        if found is None:
            raise NotFound("no such person to swipe")

    async def _check_limits(self, connection: asyncpg.Connection, user_id: uuid.UUID, action: Action) -> None:
        """Within the person's current day. Its bounds are fixed by its first like, so changing time zone
        takes effect the next day and cannot start a fresh day (and allowance) within the same one."""
        now = dt.datetime.now(dt.UTC)
        row = await connection.fetchrow(
            "SELECT cell_lng, likes_day_start, likes_day_end FROM matching_candidates WHERE id = $1", user_id
        )
        start, end = row["likes_day_start"], row["likes_day_end"]
        if end is None or now >= end:
            start, end = day_of(zone_for(await time_zone_of(user_id), row["cell_lng"]), now)
            await connection.execute(
                "UPDATE matching_candidates SET likes_day_start = $2, likes_day_end = $3 WHERE id = $1",
                user_id,
                start,
                end,
            )
        likes, superlikes = await connection.fetchrow(
            "SELECT count(*), count(*) FILTER (WHERE action = 'superlike') FROM swipes"
            " WHERE swiper = $1 AND action <> 'pass' AND created_at >= $2",
            user_id,
            start,
        )
        for used, allowed, what in (
            (likes, self.settings.likes_per_day, "likes"),
            (superlikes if action == "superlike" else 0, self.settings.superlikes_per_day, "superlikes"),
        ):
            if used >= allowed:
                wait = max(1, int((end - dt.datetime.now(dt.UTC)).total_seconds()) + 1)
                raise RateLimited(
                    f"you have used today's {allowed} {what}; more at midnight in your time zone",
                    retry_after=wait,
                    extensions={"remaining": 0, "resetsAt": end.isoformat().replace("+00:00", "Z")},
                )

    async def _match_if_mutual(
        self, connection: asyncpg.Connection, user_id: uuid.UUID, target_id: uuid.UUID
    ) -> _Made | None:
        user_a, user_b = _pair(user_id, target_id)
        await lock_pair(connection, user_id, target_id)
        # Asked again under the pair's lock, which a block takes too: a block committed since this swipe's own
        # check is seen here, so no match is made between two people kept apart.
        liked_back = await connection.fetchval(
            _LIKED_BACK,
            target_id,
            user_id,
        )
        if liked_back is None:
            return None
        row = await connection.fetchrow(
            "INSERT INTO matches (id, user_a, user_b) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_a, user_b) DO NOTHING RETURNING id, created_at",
            uuid.uuid4(),
            user_a,
            user_b,
        )
        if row is None:
            return await self._standing_match(connection, user_id, target_id)
        for side, other in ((user_id, target_id), (target_id, user_id)):
            await publish(MATCH_CREATED, {"matchId": str(row["id"]), "userId": str(side), "otherUserId": str(other)})
        return _Made(row["id"], target_id, row["created_at"])

    async def _standing_match(
        self, connection: asyncpg.Connection, user_id: uuid.UUID, other: uuid.UUID
    ) -> _Made | None:
        user_a, user_b = _pair(user_id, other)
        row = await connection.fetchrow(
            "SELECT id, created_at FROM matches WHERE user_a = $1 AND user_b = $2 AND ended_at IS NULL", user_a, user_b
        )
        return _Made(row["id"], other, row["created_at"]) if row else None

    async def _view(self, user_id: uuid.UUID, made: _Made) -> MatchView | None:
        cards = await self.profiles.public_cards(user_id, [made.other], revealed={made.other})
        return MatchView(id=made.id, user=cards[0], created_at=made.created_at) if cards else None

    async def standing(self, user_id: uuid.UUID, match_id: uuid.UUID) -> MatchView | None:
        """One of the person's matches as they see it, while it stands."""
        async with database.connection(self.db) as connection:
            row = await connection.fetchrow(
                "SELECT CASE WHEN user_a = $1 THEN user_b ELSE user_a END AS other, created_at FROM matches"
                " WHERE id = $2 AND (user_a = $1 OR user_b = $1) AND ended_at IS NULL",
                user_id,
                match_id,
            )
        return await self._view(user_id, _Made(match_id, row["other"], row["created_at"])) if row else None

    async def matches(self, user_id: uuid.UUID, page: PageRequest) -> MatchList:
        """The caller's standing matches, newest first."""
        after = page.after or [None, None]
        async with database.connection(self.db) as connection:
            rows = await connection.fetch(
                "SELECT id, CASE WHEN user_a = $1 THEN user_b ELSE user_a END AS other, created_at FROM matches"
                " WHERE (user_a = $1 OR user_b = $1) AND ended_at IS NULL"
                " AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))"
                " ORDER BY created_at DESC, id DESC LIMIT $4",
                user_id,
                dt.datetime.fromisoformat(after[0]) if after[0] else None,
                uuid.UUID(after[1]) if after[1] else None,
                page.limit + 1,
            )
            made = [_Made(row["id"], row["other"], row["created_at"]) for row in rows]
            shown, next_cursor = page.split(made, lambda m: [m.created_at.isoformat(), str(m.id)])
            # A suspended or banned person is hidden, as their statement of reasons says; the match stands.
            hidden = await measures.barred_among(connection, [m.other for m in shown])
        others = [m.other for m in shown if m.other not in hidden]
        cards = {card.id: card for card in await self.profiles.public_cards(user_id, others, revealed=others)}
        items = [MatchView(id=m.id, user=cards[m.other], created_at=m.created_at) for m in shown if m.other in cards]
        return MatchList(items=items, next_cursor=next_cursor)

    async def unmatch(self, user_id: uuid.UUID, match_id: uuid.UUID) -> None:
        """End the match for both; neither sees it again, and both swipes stay, so neither deck brings the other back.
        Its conversation ends with it: nothing more can be sent or read, and both people's sockets are told."""
        async with self.db.transaction(), database.connection(self.db) as connection:
            if not await _end(connection, user_id, match_id):
                raise NotFound("no such match")

    async def end_with(self, connection: asyncpg.Connection, user_id: uuid.UUID, other: uuid.UUID) -> None:
        """End the person's standing match with ``other``, if there is one, as the person's own unmatch would, in
        the caller's transaction (a block): the other side is told exactly what an unmatch tells them."""
        await lock_pair(connection, user_id, other)
        made = await self._standing_match(connection, user_id, other)
        if made is not None:
            await _end(connection, user_id, made.id)


async def _end(connection: asyncpg.Connection, user_id: uuid.UUID, match_id: uuid.UUID) -> bool:
    """End one of the person's standing matches and tell both sides (``MATCH_ENDED``); False if there is none."""
    ended = await connection.fetchrow(
        "UPDATE matches SET ended_at = now(), ended_by = $1"
        " WHERE id = $2 AND (user_a = $1 OR user_b = $1) AND ended_at IS NULL RETURNING user_a, user_b",
        user_id,
        match_id,
    )
    if ended is None:
        return False
    await publish(MATCH_ENDED, {"matchId": str(match_id), "userIds": [str(ended["user_a"]), str(ended["user_b"])]})
    return True


async def end_all(connection: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """End every standing match of the person, in the caller's transaction (a ban): each other side is told as
    an unmatch tells them."""
    rows = await connection.fetch(
        "SELECT id FROM matches WHERE (user_a = $1 OR user_b = $1) AND ended_at IS NULL FOR UPDATE", user_id
    )
    for row in rows:
        await _end(connection, user_id, row["id"])
