"""What matching holds about a person is in their export, and goes with them when they erase their account."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from litestar import Litestar
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey

from tests.factories import PASSWORD, bearer, register, run_jobs, with_approved_photo
from tests.integration.matching.crowd import (
    BERLIN,
    card_ids,
    ids,
    listed_neighbours,
    matched,
    my_matches,
    swipe,
    whole_deck,
)


async def _listed_account(client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey) -> dict[str, Any]:
    """Someone signed up through the API (so they have a password), placed and with an approved photo."""
    person = await register(client)
    response = await client.put(
        "/api/users/location", json={"lat": BERLIN[0], "lng": BERLIN[1]}, headers=bearer(person["accessToken"])
    )
    assert response.status_code == 204
    await with_approved_photo(db, ids(person))
    await run_jobs(valkey, db)
    return person


async def test_the_export_holds_the_swipes_made_the_matches_and_activity(
    app: Litestar, client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey
) -> None:
    me = await _listed_account(client, db, valkey)
    lover, passed, admirer = await listed_neighbours(app, client, valkey, 3)
    match = await matched(client, me, lover)
    assert (await swipe(client, me, passed, "pass")).status_code == 200
    assert (await swipe(client, admirer, me, "like")).status_code == 200

    response = await client.get("/api/users/export", headers=bearer(me["accessToken"]))
    assert response.status_code == 200, response.text
    section = response.json()["data"]["matching"]
    assert {"swipes", "matches", "activity"} <= set(section)
    made = sorted((str(s["target"]), s["action"]) for s in section["swipes"])
    assert made == sorted([(ids(lover), "like"), (ids(passed), "pass")])
    [held] = section["matches"]
    assert str(held["id"]) == match["id"] and ids(lover) in str(held)
    assert section["activity"] is not None
    # Swipes made by others are theirs: who liked me is not in my export by way of my swipes.
    assert ids(admirer) not in str(section["swipes"])


async def test_erasure_takes_swipes_and_matches_both_ways(
    app: Litestar, client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey
) -> None:
    leaver = await _listed_account(client, db, valkey)
    partner, liked, admirer, onlooker = await listed_neighbours(app, client, valkey, 4)
    await matched(client, leaver, partner)
    kept = await matched(client, partner, onlooker)
    assert (await swipe(client, leaver, liked, "like")).status_code == 200
    assert (await swipe(client, admirer, leaver, "superlike")).status_code == 200

    gone = await client.request(
        "DELETE", "/api/users/profile", json={"password": PASSWORD}, headers=bearer(leaver["accessToken"])
    )
    assert gone.status_code == 204, gone.text
    await run_jobs(valkey, db)

    leaver_id = uuid.UUID(ids(leaver))
    assert db.pool is not None
    for table, sql in (
        ("swipes", "SELECT count(*) FROM swipes WHERE swiper = $1 OR target = $1"),
        ("matches", "SELECT count(*) FROM matches WHERE user_a = $1 OR user_b = $1 OR ended_by = $1"),
        ("matching_candidates", "SELECT count(*) FROM matching_candidates WHERE id = $1"),
    ):
        assert await db.pool.fetchval(sql, leaver_id) == 0, f"{table} still holds the erased person"
    assert [m["id"] for m in (await my_matches(client, partner)).json()["items"]] == [kept["id"]]
    for other in (partner, liked, admirer, onlooker):
        assert ids(leaver) not in card_ids(await whole_deck(client, other, limit=5))
    assert (await swipe(client, onlooker, leaver)).status_code == 404
    # Everyone else's swipes stand.
    assert await db.pool.fetchval("SELECT count(*) FROM swipes") == 2
