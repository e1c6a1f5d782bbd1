"""A suspended or banned person's profile is hidden from everyone, as their statement of reasons tells them."""

from __future__ import annotations

import datetime as dt

import httpx
from litestar import Litestar

from tests.factories import register
from tests.integration.chat.stored import assert_problem
from tests.integration.chat.talk import pairs, send
from tests.integration.matching.crowd import crowd_in_one_cell, headers, ids, matched
from tests.integration.moderation.staff import staff


async def test_a_suspended_persons_profile_is_not_shown(app: Litestar, client: httpx.AsyncClient) -> None:
    person, viewer, moderator = await register(client), await register(client), await staff(client, app.state.db)
    assert (await client.get(f"/api/users/{ids(person)}", headers=headers(viewer))).status_code == 200

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    acted = await client.post(
        f"/api/admin/users/{ids(person)}/actions",
        json={"action": "suspend", "rule": "scam", "until": until},
        headers=headers(moderator),
    )
    assert acted.status_code == 200, acted.text

    assert_problem(await client.get(f"/api/users/{ids(person)}", headers=headers(viewer)), 404)


async def test_a_suspended_person_leaves_their_matches_lists_until_it_is_lifted(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(one, suspended, match_id)] = await pairs(app, client)
    [other_match] = await crowd_in_one_cell(app, 1)
    await matched(client, one, other_match)
    await send(client, one, match_id, "m1", content="hello")
    moderator = await staff(client, app.state.db)

    async def listed() -> tuple[set[str], set[str]]:
        matches = (await client.get("/api/matches/my-matches", headers=headers(one))).json()["items"]
        chats = (await client.get("/api/chat/conversations", headers=headers(one))).json()["items"]
        return {m["user"]["id"] for m in matches}, {c["user"]["id"] for c in chats}

    both = {ids(suspended), ids(other_match)}
    assert await listed() == (both, both)
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    for action in ({"action": "suspend", "rule": "scam", "until": until}, {"action": "lift"}):
        acted = await client.post(f"/api/admin/users/{ids(suspended)}/actions", json=action, headers=headers(moderator))
        assert acted.status_code == 200, acted.text
        shown = both - {ids(suspended)} if action["action"] == "suspend" else both
        assert await listed() == (shown, shown), action
