"""Matches: made once by two likes, announced to each side, listed newest first, and ended for both by either."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import httpx
from litestar import Litestar
from valkey.asyncio import Valkey

from server.platform.pubsub import PubSub, Subscription, person_channel
from tests.factories import bearer, fields, run_jobs
from tests.integration.matching.crowd import (
    UNMATCH,
    card_ids,
    count,
    ids,
    listed_neighbours,
    matched,
    my_matches,
    swipe,
    whole_deck,
)


async def _announced(app: Litestar) -> list[dict[str, Any]]:
    rows = await app.state.db.pool.fetch("SELECT payload FROM job_outbox WHERE kind = 'matching.match_created'")
    return [json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"] for r in rows]


async def test_two_likes_make_one_match_announced_once_to_each_side(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, you, _ = await listed_neighbours(app, client, valkey, 3)
    assert (await swipe(client, me, you)).json() == {"matched": False, "match": None}
    assert await _announced(app) == [] and await count(app, "matches") == 0

    response = await swipe(client, you, me, "superlike")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["matched"] is True and set(body["match"]) == {"id", "user", "createdAt"}
    match = body["match"]
    assert match["user"]["id"] == ids(me) and match["user"]["distanceKm"] >= 1
    row = await app.state.db.pool.fetchrow("SELECT id::text, user_a::text, user_b::text FROM matches")
    assert row["id"] == match["id"] and {row["user_a"], row["user_b"]} == {ids(me), ids(you)}

    events = await _announced(app)
    assert sorted(e["userId"] for e in events) == sorted([ids(me), ids(you)])
    assert {e["matchId"] for e in events} == {match["id"]}

    [mine] = (await my_matches(client, me)).json()["items"]
    [yours] = (await my_matches(client, you)).json()["items"]
    assert mine["id"] == yours["id"] == match["id"] and mine["createdAt"] == yours["createdAt"] == match["createdAt"]
    assert mine["user"]["id"] == ids(you) and yours["user"]["id"] == ids(me)


async def test_a_like_and_a_pass_make_no_match(app: Litestar, client: httpx.AsyncClient, valkey: Valkey) -> None:
    me, you = await listed_neighbours(app, client, valkey, 2)
    assert (await swipe(client, me, you, "superlike")).json() == {"matched": False, "match": None}
    assert (await swipe(client, you, me, "pass")).json() == {"matched": False, "match": None}
    assert await count(app, "matches") == 0 and await _announced(app) == []
    assert (await my_matches(client, me)).json() == {"items": [], "nextCursor": None}


async def test_my_matches_are_listed_newest_first_and_page_without_repeats(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, *others = await listed_neighbours(app, client, valkey, 6)
    made = [(await matched(client, me, other))["id"] for other in others]
    pages, cursor, seen = 0, None, []
    while True:
        response = await my_matches(client, me, limit=2, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert seen == made[::-1] and pages == 3
    stamps = [item["createdAt"] for item in (await my_matches(client, me, limit=10)).json()["items"]]
    assert stamps == sorted(stamps, reverse=True)
    # A cursor is its holder's: another person cannot page with it.
    cursor = (await my_matches(client, me, limit=2)).json()["nextCursor"]
    refused = await my_matches(client, others[0], limit=2, cursor=cursor)
    assert refused.status_code == 422 and fields(refused) == {"cursor"}


async def test_unmatch_ends_the_match_for_both_and_neither_comes_back_in_a_deck(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, you, bystander, *rest = await listed_neighbours(app, client, valkey, 5)
    match = await matched(client, me, you)
    kept = await matched(client, you, bystander)
    assert len((await my_matches(client, you)).json()["items"]) == 2

    response = await client.post(UNMATCH, json={"matchId": match["id"]}, headers=bearer(me["accessToken"]))
    assert response.status_code == 204, response.text
    assert (await my_matches(client, me)).json() == {"items": [], "nextCursor": None}
    assert [m["id"] for m in (await my_matches(client, you)).json()["items"]] == [kept["id"]]
    assert ids(you) not in card_ids(await whole_deck(client, me, limit=3))
    assert ids(me) not in card_ids(await whole_deck(client, you, limit=3))
    assert {ids(p) for p in rest} <= set(card_ids(await whole_deck(client, bystander, limit=3)))

    for who, match_id in (
        (you, match["id"]),  # already ended, by the other side
        (me, match["id"]),  # already ended, by oneself
        (me, kept["id"]),  # someone else's match
        (me, str(uuid.uuid4())),  # no such match
    ):
        refused = await client.post(UNMATCH, json={"matchId": match_id}, headers=bearer(who["accessToken"]))
        assert refused.status_code == 404, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert [m["id"] for m in (await my_matches(client, bystander)).json()["items"]] == [kept["id"]]


async def test_an_unmatch_naming_no_uuid_is_a_422_naming_match_id(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, you = await listed_neighbours(app, client, valkey, 2)
    match = await matched(client, me, you)
    for body in ({"matchId": "nope"}, {"matchId": 7}, {}):
        refused = await client.post(UNMATCH, json=body, headers=bearer(me["accessToken"]))
        assert refused.status_code == 422, refused.text
        assert fields(refused) == {"matchId"}, refused.json()
    assert [m["id"] for m in (await my_matches(client, me)).json()["items"]] == [match["id"]]


async def test_a_match_is_sent_live_to_each_side_and_an_ended_one_is_not(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, you, them = await listed_neighbours(app, client, valkey, 3)
    hub = PubSub(valkey)

    async def heard(live: Subscription) -> list[dict]:
        """Matching's own frames until the channels fall quiet (in-app notifications travel beside them)."""
        frames = []
        with contextlib.suppress(TimeoutError):
            while True:
                frames.append(json.loads((await asyncio.wait_for(anext(live), 0.5)).data))
        return [frame for frame in frames if frame["type"] != "notification"]

    async with hub.subscribe(person_channel(ids(me)), person_channel(ids(you)), person_channel(ids(them))) as live:
        match = await matched(client, me, you)
        await run_jobs(valkey, app.state.db)
        frames = await heard(live)
        ended = await matched(client, me, them)
        assert (
            await client.post(UNMATCH, json={"matchId": ended["id"]}, headers=bearer(them["accessToken"]))
        ).is_success
        await run_jobs(valkey, app.state.db)
        # The ended match is not announced; its two people hear only that it ended.
        after = await heard(live)
    assert [frame["type"] for frame in frames] == ["match_created", "match_created"]
    assert [frame["type"] for frame in after] == ["match_ended", "match_ended"]
    assert {frame["data"]["matchId"] for frame in after} == {ended["id"]}
    seen = {frame["data"]["match"]["user"]["id"] for frame in frames}
    assert seen == {ids(me), ids(you)} and {frame["data"]["match"]["id"] for frame in frames} == {match["id"]}
