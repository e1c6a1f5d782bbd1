"""The conversation list: one per standing match, the most recently active first, paged exactly once."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.integration.chat.stored import unmatch
from tests.integration.chat.talk import conversations, send
from tests.integration.matching.crowd import crowd_in_one_cell, ids, matched


async def _hub(app: Litestar, client: httpx.AsyncClient, count: int) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """One person matched with ``count`` others, one after the other: (hub, [(matchId, other)…]) oldest first."""
    hub, *others = await crowd_in_one_cell(app, count + 1)
    return hub, [((await matched(client, other, hub))["id"], other) for other in others]


async def _whole_list(client: httpx.AsyncClient, person: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        response = await conversations(client, person, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        found += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            return found
    raise AssertionError("the conversation list had not ended after 50 pages")


async def test_each_standing_match_is_listed_with_the_other_person_and_no_message_yet(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    hub, made = await _hub(app, client, 4)

    listed = await _whole_list(client, hub, limit=100)

    assert [c["matchId"] for c in listed] == [match_id for match_id, _ in reversed(made)]
    for conversation, (_, other) in zip(listed, reversed(made), strict=True):
        assert conversation["user"]["id"] == ids(other) and conversation["user"]["firstName"]
        assert conversation["lastMessage"] is None and conversation["unreadCount"] == 0
    for match_id, other in made:
        [theirs] = (await conversations(client, other)).json()["items"]
        assert theirs["matchId"] == match_id and theirs["user"]["id"] == ids(hub)


async def test_a_new_message_moves_its_conversation_to_the_top(app: Litestar, client: httpx.AsyncClient) -> None:
    hub, made = await _hub(app, client, 4)
    (oldest, oldest_person), (second, _), *_ = made

    sent = (await send(client, oldest_person, oldest, "c-1", "remember me?")).json()
    listed = await _whole_list(client, hub, limit=100)
    assert listed[0]["matchId"] == oldest
    assert listed[0]["lastMessage"] == sent and listed[0]["unreadCount"] == 1
    assert [c["matchId"] for c in listed[1:]] == [match_id for match_id, _ in reversed(made[1:])]

    (await send(client, hub, second, "c-2", "and you")).json()
    assert [c["matchId"] for c in await _whole_list(client, hub, limit=100)][:2] == [second, oldest]
    # A message of one's own is the last message too, and leaves one's own unread count alone.
    top = (await conversations(client, hub, limit=1)).json()["items"][0]
    assert top["lastMessage"]["clientId"] == "c-2" and top["unreadCount"] == 0


async def test_paging_lists_every_conversation_exactly_once_in_the_order_of_one_page(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    hub, made = await _hub(app, client, 7)
    for n, (match_id, other) in enumerate(made[::2]):
        assert (await send(client, other, match_id, f"c-{n}")).status_code == 201

    whole = [c["matchId"] for c in await _whole_list(client, hub, limit=100)]
    for limit in (1, 2, 3):
        assert [c["matchId"] for c in await _whole_list(client, hub, limit=limit)] == whole
    assert sorted(whole) == sorted(match_id for match_id, _ in made)


async def test_an_ended_match_leaves_both_lists(app: Litestar, client: httpx.AsyncClient) -> None:
    hub, made = await _hub(app, client, 3)
    (ended, ended_person), *kept = made
    assert (await send(client, ended_person, ended, "c-1")).status_code == 201

    await unmatch(client, ended_person, ended)

    assert [c["matchId"] for c in await _whole_list(client, hub, limit=2)] == [m for m, _ in reversed(kept)]
    assert (await conversations(client, ended_person)).json() == {"items": [], "nextCursor": None}
