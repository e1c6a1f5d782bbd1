"""Two people liking each other at the same moment make exactly one match, announced once to each side."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

import httpx
from litestar import Litestar

from tests.integration.matching.crowd import count, crowd_in_one_cell, ids, swipe

PAIRS = 200


async def test_200_pairs_liking_each_other_at_once_make_exactly_200_matches(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    people = await crowd_in_one_cell(app, 2 * PAIRS)
    pairs = [(people[2 * n], people[2 * n + 1]) for n in range(PAIRS)]
    rng = random.Random(9)
    swipes = [
        (one, other, rng.choice(["like", "like", "superlike"])) for a, b in pairs for one, other in ((a, b), (b, a))
    ]
    rng.shuffle(swipes)

    responses = await asyncio.gather(*(swipe(client, one, other, action) for one, other, action in swipes))

    assert [r.status_code for r in responses if r.status_code != 200] == [], [
        r.text for r in responses if r.status_code != 200
    ][:3]
    db = app.state.db
    rows = await db.pool.fetch("SELECT id::text, user_a::text, user_b::text, ended_at FROM matches")
    pair_of = {frozenset((ids(a), ids(b))) for a, b in pairs}
    made = Counter(frozenset((row["user_a"], row["user_b"])) for row in rows)
    assert len(rows) == PAIRS and set(made) == pair_of and max(made.values()) == 1
    assert all(row["ended_at"] is None for row in rows)
    match_of = {frozenset((row["user_a"], row["user_b"])): row["id"] for row in rows}

    # Whoever was told of the match was told of the one match there is, with the other person in it.
    told: Counter[frozenset[str]] = Counter()
    for (one, other, _), response in zip(swipes, responses, strict=True):
        body = response.json()
        if body["matched"]:
            pair = frozenset((ids(one), ids(other)))
            assert body["match"]["id"] == match_of[pair] and body["match"]["user"]["id"] == ids(other), body
            told[pair] += 1
        else:
            assert body["match"] is None, body
    assert set(told) == pair_of, f"{PAIRS - len(told)} pairs matched without either swipe saying so"

    # Before any worker drains the outbox: one match_created per side of each match, nothing more.
    events = await db.pool.fetch("SELECT payload FROM job_outbox WHERE kind = 'matching.match_created'")
    payloads = [json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"] for row in events]
    sides = Counter((p["matchId"], p["userId"]) for p in payloads)
    expected = {(match_of[pair], person) for pair in pair_of for person in pair}
    assert len(payloads) == 2 * PAIRS and set(sides) == expected and max(sides.values()) == 1
    assert await count(app, "swipes") == 2 * PAIRS
