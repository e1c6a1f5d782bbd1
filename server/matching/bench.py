"""What ``harvestctl bench discovery`` measures inside, on the seeded population (seed.py): the deck query's
latency for random seeded people, its plan, the naive radius query on a cube/earthdistance GiST index for
comparison, how big the tables and indexes are, and logins and swipe targets for the load through nginx.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine

from server.auth.roles import Role
from server.auth.service import AuthService
from server.bench import percentile
from server.matching import deck, seed
from server.platform import database

#: how ``bench discovery`` names the logins it opens, so the next run ends them first
DEVICE = "harvestctl bench discovery"
#: the relations whose sizes are reported
RELATIONS = (
    "matching_candidates",
    "matching_candidates_by_region",
    "matching_candidates_by_area",
    "matching_candidates_pkey",
    "swipes",
    "matches",
    "users",
    "profiles",
    "preferences",
    "locations",
    "photos",
)
#: the naive shape keeps this many, as a deck of the old kind would have
NAIVE_LIMIT = 200
_EARTH_INDEX = "matching_candidates_bench_earth"
#: one like in this many swipes (the rest are passes), and one like in this many made mutual in advance
LIKE_EVERY = 3
MATCH_EVERY = 10


def summary(latencies_ms: list[float]) -> dict[str, float]:
    ordered = sorted(latencies_ms)
    return {
        "p50Ms": percentile(ordered, 0.5),
        "p95Ms": percentile(ordered, 0.95),
        "p99Ms": percentile(ordered, 0.99),
        "maxMs": ordered[-1],
        # one connection, one deck after the other: what a single Postgres backend sustains
        "decksPerSecond": len(ordered) / (sum(ordered) / 1000),
    }


async def callers(connection: asyncpg.Connection, count: int) -> list[uuid.UUID]:
    """Random seeded people, as many as asked for (or as there are)."""
    rows = await connection.fetch(
        "SELECT id FROM matching_candidates WHERE synthetic ORDER BY random() LIMIT $1", count
    )
    return [row["id"] for row in rows]


async def sizes(connection: asyncpg.Connection) -> dict[str, int]:
    """Bytes on disk of each relation in RELATIONS (table sizes include their TOAST, not their indexes)."""
    rows = await connection.fetch(
        "SELECT c.relname, pg_table_size(c.oid) AS bytes FROM pg_class c"
        " WHERE c.relname = ANY($1::text[]) AND c.relnamespace = 'public'::regnamespace",
        list(RELATIONS),
    )
    found = {row["relname"]: int(row["bytes"]) for row in rows}
    return {name: found[name] for name in RELATIONS if name in found}


async def time_decks(connection: asyncpg.Connection, people: list[uuid.UUID]) -> dict[str, Any]:
    """``deck.compute`` for each person in turn, fresh (nobody served yet), timed one by one."""
    latencies, found = [], []
    for person in people[: min(20, len(people))]:
        me = await deck.seeker(connection, person)
        assert me is not None
        await deck.compute(connection, me, [])  # warm the caches the first decks would otherwise pay for
    for person in people:
        me = await deck.seeker(connection, person)
        assert me is not None
        started = time.perf_counter()
        ids, _ = await deck.compute(connection, me, [])
        latencies.append((time.perf_counter() - started) * 1000)
        found.append(len(ids))
    ordered = sorted(found)
    return summary(latencies) | {
        "callers": len(people),
        "deckSizeP50": percentile(ordered, 0.5),
        "deckSizeMin": ordered[0],
        "emptyDecks": sum(1 for size in found if size == 0),
    }


async def decks_at_once(engine: PostgresEngine, people: list[uuid.UUID], at_once: int) -> dict[str, Any]:
    """``deck.compute`` for every person, ``at_once`` decks in flight on as many connections: the deck
    throughput of the whole machine at the query, whatever its cores."""
    shares = [people[index::at_once] for index in range(at_once)]

    async def run(share: list[uuid.UUID]) -> None:
        async with database.connection(engine) as connection:
            for person in share:
                me = await deck.seeker(connection, person)
                assert me is not None
                await deck.compute(connection, me, [])

    started = time.perf_counter()
    await asyncio.gather(*(run(share) for share in shares))
    return {"decksPerSecond": len(people) / (time.perf_counter() - started), "atOnce": at_once}


async def explain(connection: asyncpg.Connection, person: uuid.UUID) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the very query ``deck.compute`` sends for this person."""
    sent: list[Any] = []
    me = await deck.seeker(connection, person)
    assert me is not None
    with connection.query_logger(sent.append):
        await deck.compute(connection, me, [])
        await asyncio.sleep(0)  # asyncpg hands the logged query over on the loop's next turn
    query = sent[-1]
    rows = await connection.fetch("EXPLAIN (ANALYZE, BUFFERS) " + query.query, *query.args)
    return "\n".join(row[0] for row in rows)


_NAIVE = f"""
SELECT c.id
FROM matching_candidates c
LEFT JOIN swipes theirs ON theirs.swiper = c.id AND theirs.target = $me
WHERE earth_box(ll_to_earth($lat, $lng), ($km + 0.5) * 1000.0) @> ll_to_earth(c.cell_lat, c.cell_lng)
    AND {deck._FITS} AND theirs.action IS DISTINCT FROM 'pass'
ORDER BY {deck._SCORE} DESC, c.id
LIMIT $size
"""  # noqa: S608 - assembled from the deck's own constants; every value is a parameter


async def compare_geo(
    connection: asyncpg.Connection, superuser: asyncpg.Connection, people: list[uuid.UUID]
) -> dict[str, Any]:
    """The textbook radius query (a GiST index on ``ll_to_earth``, the box around the circle, every fitting
    person in it ranked, best ``NAIVE_LIMIT`` kept) for the same people, on a temporary index that is dropped
    afterwards, as are the extensions if this made them. earthdistance is no trusted extension, so
    ``superuser`` (the database's superuser, on the same database) creates and drops the extensions."""
    present = {
        row["extname"]
        for row in await superuser.fetch("SELECT extname FROM pg_extension WHERE extname IN ('cube', 'earthdistance')")
    }
    try:
        await superuser.execute("CREATE EXTENSION IF NOT EXISTS earthdistance CASCADE")
        started = time.perf_counter()
        await connection.execute(
            f"CREATE INDEX {_EARTH_INDEX} ON matching_candidates USING gist (ll_to_earth(cell_lat, cell_lng))"
            " WHERE listed"
        )
        await connection.execute("ANALYZE matching_candidates")
        built = time.perf_counter() - started
        size = await connection.fetchval("SELECT pg_relation_size($1::regclass)", _EARTH_INDEX)
        latencies = []
        for person in people:
            me = await deck.seeker(connection, person)
            assert me is not None
            values = me.parameters(dt.date.today()) | {"interests": list(me.interests), "size": NAIVE_LIMIT}
            query = deck._numbered(_NAIVE, list(values))
            started = time.perf_counter()
            await connection.fetch(query, *values.values())
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        await connection.execute(f"DROP INDEX IF EXISTS {_EARTH_INDEX}")
        for extension in ("earthdistance", "cube"):
            if extension not in present:
                await superuser.execute(f"DROP EXTENSION IF EXISTS {extension}")
    return summary(latencies) | {"callers": len(people), "indexSeconds": built, "indexBytes": int(size)}


def swipe_pair(request: int, swipers: int, targets: int) -> tuple[int, int, str]:
    """The swiper, target and action of the n-th swipe request of the load (the wrk script computes the
    same): with one more target than swipers the two counts share no factor, so no pair repeats before
    swipers × targets requests."""
    action = "like" if request % LIKE_EVERY == 0 else "pass"
    return request % swipers, request % targets, action


async def logins(service: AuthService, connection: asyncpg.Connection, count: int) -> dict[str, Any]:
    """Fresh logins for ``count`` random listed seeded people, ``count + 1`` other listed seeded people to
    swipe on, and likes from those targets already in place for one like in MATCH_EVERY, so some of the
    load's likes make matches. Logins of earlier runs are ended first."""
    earlier = await connection.fetch(
        'SELECT s.id FROM auth_sessions s JOIN users u ON u.id = s."user"'
        " WHERE u.email LIKE $1 AND s.device = $2 AND s.revoked_at IS NULL",
        seed.EMAIL_LIKE,
        DEVICE,
    )
    if earlier:
        await service.revoke([row["id"] for row in earlier])
    rows = await connection.fetch(
        "SELECT id FROM matching_candidates WHERE synthetic AND listed ORDER BY random() LIMIT $1", 2 * count + 1
    )
    if len(rows) < 2 * count + 1:
        raise ValueError(f"{len(rows)} listed seeded people; {2 * count + 1} are needed")
    swipers, targets = [row["id"] for row in rows[:count]], [row["id"] for row in rows[count:]]
    people = []
    for person in swipers:
        pair = await service.open_session(person, Role.USER, DEVICE)
        people.append({"id": str(person), "accessToken": pair.access_token})
    mutual = []
    for request in range(0, 50 * count, LIKE_EVERY * MATCH_EVERY):
        swiper, target, _ = swipe_pair(request, len(swipers), len(targets))
        mutual.append((targets[target], swipers[swiper], "like"))
    await connection.executemany(
        "INSERT INTO swipes (swiper, target, action, created_at) VALUES ($1, $2, $3, now() - interval '1 day')"
        " ON CONFLICT DO NOTHING",
        mutual,
    )
    return {"people": people, "targets": [str(target) for target in targets], "likeEvery": LIKE_EVERY}
