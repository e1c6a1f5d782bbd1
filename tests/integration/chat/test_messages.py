"""Sending, listing and reading messages over REST."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.integration.chat.talk import conversations, messages, pairs, read, send


async def test_a_retry_answers_the_first_message_and_stores_nothing_more(
    app: Litestar, app_client: httpx.AsyncClient, db: object, valkey: object
) -> None:
    [(one, other, match_id)] = await pairs(app, app_client)
    first = await send(app_client, one, match_id, "c-1", "hi there")
    assert first.status_code == 201, first.text
    again = await send(app_client, one, match_id, "c-1", "hi there")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    body = first.json()
    assert body["seq"] == 1 and body["content"] == "hi there" and body["matchId"] == match_id
    listed = (await messages(app_client, other, match_id)).json()
    assert [m["id"] for m in listed["items"]] == [body["id"]]
    [conversation] = (await conversations(app_client, other)).json()["items"]
    assert conversation["unreadCount"] == 1 and conversation["lastMessage"]["id"] == body["id"]
    state = (await read(app_client, other, match_id, body["id"])).json()
    assert state["unreadCount"] == 0 and state["readSeq"] == 1
    [conversation] = (await conversations(app_client, other)).json()["items"]
    assert conversation["unreadCount"] == 0


async def test_after_pages_forward_oldest_first(
    app: Litestar, app_client: httpx.AsyncClient, db: object, valkey: object
) -> None:
    [(one, other, match_id)] = await pairs(app, app_client)
    sent = [(await send(app_client, one if n % 2 else other, match_id, f"m-{n}", f"n{n}")).json() for n in range(7)]
    newest = (await messages(app_client, one, match_id, limit=3)).json()
    assert [m["seq"] for m in newest["items"]] == [7, 6, 5]
    older = (await messages(app_client, one, match_id, limit=3, cursor=newest["nextCursor"])).json()
    assert [m["seq"] for m in older["items"]] == [4, 3, 2]
    caught_up = []
    page = (await messages(app_client, other, match_id, limit=2, after=sent[1]["id"])).json()
    while True:
        caught_up += [m["seq"] for m in page["items"]]
        if page["nextCursor"] is None:
            break
        page = (await messages(app_client, other, match_id, limit=2, cursor=page["nextCursor"])).json()
    assert caught_up == [3, 4, 5, 6, 7]
