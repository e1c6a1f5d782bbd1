"""The discovery deck: who a person is shown, in what order, and how it pages.

Who: people who fit the seeker's preferences and whose preferences the seeker fits (gender, age, distance and
relationship goals, both ways), who are listed (an approved photo), whom the seeker has not swiped, who have
not passed on the seeker, and where neither has blocked the other. ``_FITS`` is that rule, once, in SQL; the
deck is computed with it and every page is checked with it again when served, so a deck kept for paging never
shows someone the seeker has since swiped or blocked, or who has since stopped wanting to see them.

Order (``_SCORE``, one formula, each term in 0..1 before its weight):

    score = 1.0 × shared interests (min(shared, 5) / 5)
          + 0.5 × same relationship goal
          + 1.0 × recent activity (exp(−hours since last active / 72))
          + 0.5 × nearness (1 − distance / the seeker's radius)
          + 1.5 × appeal ((liked + 1) / (shown + 5): a newcomer starts at 0.2, someone shown a lot and
                          liked rarely sinks towards 0)
          − 0.25 × exposure (ln(1 + shown / 1000): the most-shown give way, so the most-liked
                          profiles don't fill every deck)
          + 2.0 × they superliked the seeker

How: the seeker's circle is covered by grid squares (candidates.squares_for); each (square, gender) is
probed on its own through the covering index, nearest squares first and most recently active people first
within one, taking at most ``PER_PROBE`` fitting people from a square and stopping once ``POOL_SIZE`` are
gathered, so a deck reads a bounded number of index entries however dense the city. The pool is ranked and
the best ``DECK_SIZE`` kept in Valkey for paging; people beyond the pool (farther, or less recently active
in a crowded square) come in later decks, which leave out whoever was served.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

from server.auth.accounts import age_on
from server.errors import Conflict, Unavailable
from server.matching import candidates
from server.matching.schemas import Deck, DeckCard
from server.platform import database
from server.platform.events import publish
from server.profiles import geo
from server.profiles.service import ProfileService
from server.safety.blocks import unblocked
from server.settings import MatchingSection
from server.web.pagination import PageRequest

log = logging.getLogger("harvest.matching")

#: people kept per computed deck (five pages of the default size)
DECK_SIZE = 100
#: people gathered per deck before ranking, from the nearest (square, gender) probes on
POOL_SIZE = 300
#: most people one probe gives, so one crowded square leaves room for the next ones
PER_PROBE = 100
#: people served recently are left out of a new deck, so paging on never repeats a card; they are remembered
#: for an hour after the last page (until swiped), and a person shown this many without swiping them gets no
#: new deck until then
SERVED_KEPT = 1000
SERVED_SECONDS = 3600
#: exposures are counted in Valkey and added to Postgres by a job at most this often
EXPOSURE_FLUSH_SECONDS = 30
EXPOSURES_DUE = "matching.exposures_due"
#: rows one exposures update touches (each is its own short transaction)
EXPOSURES_PER_UPDATE = 1000
_DECK = "matching:deck:{}"
_SERVED = "matching:served:{}"
_SHOWN = "matching:shown"
_SHOWN_DUE = "matching:shown:due"

_DISTANCE = """2 * 6371.0088 * asin(least(1, sqrt(
    sin(radians(c.cell_lat - $lat) / 2) ^ 2
    + cos(radians($lat)) * cos(radians(c.cell_lat)) * sin(radians(c.cell_lng - $lng) / 2) ^ 2)))"""

#: both people want each other, the seeker has not judged them yet, and neither blocked the other (one more
#: anti-join, so every deck and every page served from a kept deck obeys a block at once).
_FITS = f"""c.listed AND c.synthetic = $synthetic AND c.id <> $me
    AND c.born BETWEEN $born_from AND $born_to
    AND c.gender & $wants_genders <> 0 AND c.wants_genders & $gender <> 0
    AND $age BETWEEN c.min_age AND c.max_age
    AND (c.goal = 0 OR $wants_goals = 0 OR c.goal & $wants_goals <> 0)
    AND (c.wants_goals = 0 OR $goal = 0 OR c.wants_goals & $goal <> 0)
    AND greatest(1, round({_DISTANCE})) <= least($km, c.max_km)
    AND NOT EXISTS (SELECT 1 FROM swipes judged WHERE judged.swiper = $me AND judged.target = c.id)
    AND {unblocked("c.id", "$me")}"""

#: the ranking of the module docstring
_SCORE = f"""
    1.0 * least(cardinality(ARRAY(SELECT unnest(c.interests) INTERSECT SELECT unnest($interests::text[]))), 5) / 5
    + 0.5 * (c.goal <> 0 AND c.goal = $goal)::int
    + 1.0 * exp(-extract(epoch FROM now() - c.last_active_at) / (72 * 3600))
    + 0.5 * greatest(0, 1 - {_DISTANCE} / $km)
    + 1.5 * (coalesce(e.liked, 0) + 1.0) / (coalesce(e.shown, 0) + 5.0)
    - 0.25 * ln(1 + coalesce(e.shown, 0) / 1000.0)
    + 2.0 * (theirs.action IS NOT DISTINCT FROM 'superlike')::int"""

_COMPUTE = f"""
WITH pool AS (
    SELECT probed.id, probe.square, probe.gender
    FROM unnest($squares::int[], $genders::smallint[]) AS probe(square, gender)
    CROSS JOIN LATERAL (
        SELECT c.id FROM matching_candidates c
        WHERE c.{{column}} = probe.square AND c.gender = probe.gender AND {_FITS}
            AND c.id <> ALL($served::uuid[])
        ORDER BY c.last_active_at DESC
        LIMIT $per_probe
    ) probed
    LIMIT $pool
)
SELECT c.id, count(*) OVER () AS ranked, (SELECT count(*) FROM pool) AS pooled,
    (SELECT max(n) FROM (SELECT count(*) AS n FROM pool GROUP BY square, gender) AS probes) AS fullest
FROM pool JOIN matching_candidates c ON c.id = pool.id
LEFT JOIN matching_exposure e ON e.id = c.id
LEFT JOIN swipes theirs ON theirs.swiper = c.id AND theirs.target = $me
WHERE theirs.action IS DISTINCT FROM 'pass'
ORDER BY {_SCORE} DESC, c.id
LIMIT $size
"""

_RECHECK = f"""
SELECT c.id FROM matching_candidates c
LEFT JOIN swipes theirs ON theirs.swiper = c.id AND theirs.target = $me
WHERE c.id = ANY($ids::uuid[]) AND {_FITS} AND theirs.action IS DISTINCT FROM 'pass'
"""


def deck_cache_keys(user_id: uuid.UUID) -> list[str]:
    """The person's kept deck and the people they were served: dropped when they are erased."""
    return [_DECK.format(user_id), _SERVED.format(user_id)]


def _numbered(sql: str, names: list[str]) -> str:
    """``$name`` placeholders as asyncpg's ``$1``…, longest names first so ``$goal`` leaves ``$goals`` be."""
    for name in sorted(names, key=len, reverse=True):
        sql = sql.replace(f"${name}", f"${names.index(name) + 1}")
    return sql


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class Seeker:
    """The person a deck is for, from their own row in the discovery index."""

    id: uuid.UUID
    synthetic: bool
    cell: geo.Cell
    km: int
    gender: int
    born: dt.date
    wants_genders: int
    min_age: int
    max_age: int
    goal: int
    wants_goals: int
    interests: tuple[str, ...]

    def fingerprint(self) -> str:
        """Changes whenever anything that decides who fits changes: a kept deck is worked out afresh then."""
        fields = (self.cell, self.km, self.gender, self.born, self.wants_genders, self.min_age, self.max_age)
        return hashlib.blake2b(repr((*fields, self.goal, self.wants_goals)).encode(), digest_size=8).hexdigest()

    def parameters(self, today: dt.date) -> dict[str, Any]:
        # Someone is between min_age and max_age today when born after the day max_age + 1 years ago and
        # at the latest on the day min_age years ago.
        return {
            "me": self.id,
            "synthetic": self.synthetic,
            "born_from": _years_before(today, self.max_age + 1) + dt.timedelta(days=1),
            "born_to": _years_before(today, self.min_age),
            "gender": self.gender,
            "wants_genders": self.wants_genders,
            "age": age_on(self.born, today),
            "goal": self.goal,
            "wants_goals": self.wants_goals,
            "km": self.km,
            "lat": self.cell.lat,
            "lng": self.cell.lng,
        }


async def seeker(connection: asyncpg.Connection, user_id: uuid.UUID) -> Seeker | None:
    row = await connection.fetchrow(
        "SELECT synthetic, cell_lat, cell_lng, max_km, gender, born, wants_genders, min_age, max_age, goal,"
        " wants_goals, interests FROM matching_candidates WHERE id = $1",
        user_id,
    )
    if row is None:
        return None
    return Seeker(
        id=user_id,
        synthetic=row["synthetic"],
        cell=geo.Cell(row["cell_lat"], row["cell_lng"]),
        km=row["max_km"],
        gender=row["gender"],
        born=row["born"],
        wants_genders=row["wants_genders"],
        min_age=row["min_age"],
        max_age=row["max_age"],
        goal=row["goal"],
        wants_goals=row["wants_goals"],
        interests=tuple(row["interests"]),
    )


async def _fetch(connection: asyncpg.Connection, sql: str, values: dict[str, Any]) -> list[asyncpg.Record]:
    names = list(values)
    return await connection.fetch(_numbered(sql, names), *values.values())  # type: ignore[no-any-return]


async def compute(
    connection: asyncpg.Connection, me: Seeker, exclude: list[uuid.UUID], size: int = DECK_SIZE
) -> tuple[list[uuid.UUID], bool]:
    """The seeker's best ``size`` people now, leaving out ``exclude``; and whether a later deck may find more."""
    squares = candidates.squares_for(me.cell, me.km)
    genders = [bit for bit in candidates.GENDER_BITS.values() if me.wants_genders & bit]
    # One probe per (square, gender), nearest squares first: the pool fills from the nearest and stops.
    probes = [(square, gender) for square in squares.ids for gender in genders]
    values = me.parameters(dt.date.today()) | {
        "squares": [square for square, _ in probes],
        "genders": [gender for _, gender in probes],
        "served": exclude,
        "per_probe": PER_PROBE,
        "pool": POOL_SIZE,
        "interests": list(me.interests),
        "size": size,
    }
    rows = await _fetch(connection, _COMPUTE.format(column=squares.column), values)
    if not rows:
        return [], False
    # Someone may have been left behind by a probe that stopped at its limit, by the pool that stopped at its
    # size, or by the ranking's cut; a later deck (leaving this one's people out) finds them.
    first = rows[0]
    more = first["fullest"] >= PER_PROBE or first["pooled"] >= POOL_SIZE or first["ranked"] > size
    return [row["id"] for row in rows], more


async def still_fitting(connection: asyncpg.Connection, me: Seeker, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``ids`` the seeker may be shown right now."""
    values = me.parameters(dt.date.today()) | {"ids": ids}
    return {row["id"] for row in await _fetch(connection, _RECHECK, values)}


class Kept(msgspec.Struct):
    """A computed deck as Valkey keeps it for paging."""

    generation: str
    fingerprint: str
    ids: list[uuid.UUID]
    #: whether a further deck may find more people once this one is used up
    more: bool


class DeckService:
    def __init__(self, db: PostgresEngine, valkey: Valkey, profiles: ProfileService, settings: MatchingSection) -> None:
        self.db = db
        self.valkey = valkey
        self.profiles = profiles
        self.settings = settings

    async def page(self, user_id: uuid.UUID, page: PageRequest) -> Deck:
        """A page of the deck. Without a cursor the deck is worked out afresh (leaving out whoever was served
        in the last hour); with one, it pages through the deck kept for it, checking each person again."""
        async with database.connection(self.db) as connection:
            me = await seeker(connection, user_id)
            if me is None:
                raise Conflict("share your location first (PUT /api/users/location): the deck is people near you")
            found, offset, saved = None, 0, True
            if page.after is not None:
                found, offset = await self._kept(me, page.after)
            fresh = found is None or (offset >= len(found.ids) and found.more)
            if found is None or fresh:
                (found, saved), offset = await self._compute(connection, me), 0
            kept = found
        # The connection goes back first: the cards take their own, and holding one while waiting for another
        # would let a busy process's requests hold the whole pool and wait for ever.
        if fresh:
            # Every card of a new deck in a few queries now, rather than the same queries again for every page.
            await self.profiles.warm(kept.ids)
        cards, offset = await self._fill(me, kept.ids, offset, page.limit)
        await self._note_served(user_id, [card.id for card in cards])
        # A deck Valkey could not keep cannot be paged: it ends here rather than start again from the top.
        more = saved and (offset < len(kept.ids) or kept.more)
        cursor = page.cursors.encode(page.scope, [kept.generation, offset]) if more else None
        return Deck(items=cards, next_cursor=cursor)

    async def _fill(self, me: Seeker, ids: list[uuid.UUID], offset: int, limit: int) -> tuple[list[DeckCard], int]:
        """Up to ``limit`` cards from ``ids[offset:]``, skipping whoever no longer fits; and where the next
        page starts."""
        cards: list[DeckCard] = []
        while len(cards) < limit and offset < len(ids):
            chunk = ids[offset : offset + limit - len(cards)]
            offset += len(chunk)
            async with database.connection(self.db) as connection:
                fitting = await still_fitting(connection, me, chunk)
            # Nobody in a deck is matched with the seeker (a match needs the seeker's own swipe).
            shown = await self.profiles.public_cards(me.id, [i for i in chunk if i in fitting], revealed=())
            mine = set(me.interests)
            cards.extend(
                DeckCard(
                    **msgspec.structs.asdict(card),
                    shared_interests=[slug for slug in card.interests if slug in mine],
                )
                for card in shown
            )
        return cards, offset

    async def _kept(self, me: Seeker, after: list[Any]) -> tuple[Kept | None, int]:
        """The kept deck a cursor points into, if it is still the one for the seeker's current preferences."""
        try:
            raw = await self.valkey.get(_DECK.format(me.id))
        except (ValkeyError, OSError) as exc:
            # Without the kept deck and the people served, a new one would repeat earlier pages.
            raise Unavailable("the deck cannot be paged right now; try again in a moment") from exc
        if raw is None:
            return None, 0
        kept = msgspec.json.decode(raw, type=Kept)
        generation, offset = after if len(after) == 2 else (None, 0)
        if kept.generation != generation or kept.fingerprint != me.fingerprint() or not isinstance(offset, int):
            return None, 0
        return kept, offset

    async def _compute(self, connection: asyncpg.Connection, me: Seeker) -> tuple[Kept, bool]:
        """A new deck, and whether Valkey kept it for paging."""
        served = await self._unswiped_served(connection, me.id)
        if len(served) >= SERVED_KEPT:
            # Everyone left out of a new deck is named to its query, so looking without swiping is bounded:
            # past this many people the deck ends until an hour after the last page.
            ids: list[uuid.UUID] = []
            more = False
        else:
            ids, more = await compute(connection, me, served)
        kept = Kept(generation=uuid.uuid4().hex[:12], fingerprint=me.fingerprint(), ids=ids, more=more)
        try:
            await self.valkey.set(_DECK.format(me.id), msgspec.json.encode(kept), ex=self.settings.deck_minutes * 60)
        except (ValkeyError, OSError):
            log.warning("deck cache unreachable; this deck ends with its first page")
            return kept, False
        return kept, True

    async def _unswiped_served(self, connection: asyncpg.Connection, user_id: uuid.UUID) -> list[uuid.UUID]:
        """The people served to the person lately whom they have not swiped (the swiped are left out of decks
        anyway), forgetting the swiped ones so the list stays short."""
        key = _SERVED.format(user_id)
        try:
            served = [uuid.UUID(raw) for raw in await self.valkey.zrange(key, 0, -1)]
            swiped = await connection.fetch(
                "SELECT target FROM swipes WHERE swiper = $1 AND target = ANY($2::uuid[])", user_id, served
            )
            if swiped:
                await self.valkey.zrem(key, *(str(row["target"]) for row in swiped))
        except (ValkeyError, OSError):
            return []
        judged = {row["target"] for row in swiped}
        return [person for person in served if person not in judged]

    async def _note_served(self, user_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
        """Remember who the person was shown (so a new deck leaves them out) and count each one's exposure."""
        if not ids:
            return
        served = _SERVED.format(user_id)
        now = dt.datetime.now(dt.UTC).timestamp()
        try:
            async with self.valkey.pipeline(transaction=False) as pipe:
                pipe.zadd(served, {str(i): now for i in ids})
                pipe.zremrangebyrank(served, 0, -SERVED_KEPT - 1)
                pipe.expire(served, SERVED_SECONDS)
                for shown in ids:
                    pipe.hincrby(_SHOWN, str(shown), 1)
                pipe.set(_SHOWN_DUE, "1", nx=True, ex=EXPOSURE_FLUSH_SECONDS)
                *_, due = await pipe.execute()
        except (ValkeyError, OSError):
            log.warning("deck cache unreachable; this page's exposures are not counted")
            return
        if due:
            await publish(EXPOSURES_DUE, {"batch": uuid.uuid4().hex})


async def record_exposures(valkey: Valkey, name: str) -> None:
    """Add the exposures counted in Valkey to matching_exposure, and count again the likes of the people
    shown (likes are counted here, from the swipes, rather than in each swipe's transaction, where updating
    the liked person's row would lock it against their own swipe). The counts are first moved aside under the
    event's batch name, so a retried job adds the batch it started with (and a crash after some of its updates
    adds those twice: exposures steer ranking, they are not money)."""
    batch = f"{_SHOWN}:{name}"
    if not await valkey.exists(batch):
        try:
            await valkey.rename(_SHOWN, batch)
        except ValkeyError:
            return  # nothing was counted since the last batch
    counts: dict[str, str] = await valkey.hgetall(batch)  # type: ignore[misc]
    # In short transactions, in id order: a busy minute exposes a good share of a city, and one long update
    # would hold all those rows against their owners' own writes (activity, the day's likes) until it ended.
    ordered = sorted((uuid.UUID(key), int(value)) for key, value in counts.items())
    async with database.connection(database.engine()) as connection:
        for start in range(0, len(ordered), EXPOSURES_PER_UPDATE):
            chunk = ordered[start : start + EXPOSURES_PER_UPDATE]
            await connection.execute(
                "INSERT INTO matching_exposure (id, shown, liked)"
                " SELECT v.id, v.n, (SELECT count(*) FROM swipes s WHERE s.target = v.id AND s.action <> 'pass')"
                " FROM unnest($1::uuid[], $2::int[]) AS v(id, n) JOIN matching_candidates c ON c.id = v.id"
                " ON CONFLICT (id) DO UPDATE SET shown = matching_exposure.shown + EXCLUDED.shown,"
                " liked = EXCLUDED.liked",
                [person for person, _ in chunk],
                [count for _, count in chunk],
            )
    await valkey.delete(batch)
