"""A send is idempotent by (sender, clientId): copies racing each other store one message, counted once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from litestar import Litestar

from tests.integration.chat.stored import assert_problem, chat_rows, stored_count, waiting
from tests.integration.chat.talk import conversations, messages, pairs, send
from tests.integration.matching.crowd import matched


@pytest.mark.parametrize("earlier", [0, 3], ids=["first-message", "after-three"])
async def test_copies_of_one_send_racing_store_one_message_one_201_and_the_rest_200_with_its_body(
    app: Litestar, client: httpx.AsyncClient, earlier: int
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    for n in range(earlier):
        assert (await send(client, one, match_id, f"early-{n}")).status_code == 201

    answers = await asyncio.gather(*(send(client, one, match_id, "racing", "only once") for _ in range(6)))

    assert sorted(answer.status_code for answer in answers) == [200] * 5 + [201]
    [first] = [answer.json() for answer in answers if answer.status_code == 201]
    assert all(answer.json() == first for answer in answers)
    assert first["seq"] == earlier + 1 and first["content"] == "only once"
    assert await stored_count(app, match_id) == earlier + 1
    listed = (await messages(client, other, match_id)).json()["items"]
    assert [m["seq"] for m in listed] == list(range(earlier + 1, 0, -1))
    [conversation] = (await conversations(client, other)).json()["items"]
    assert conversation["unreadCount"] == earlier + 1 and conversation["lastMessage"] == first
    assert len(await waiting(app, first["id"])) == 1


async def test_a_retry_with_other_content_answers_the_first_message_unchanged(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    first = await send(client, one, match_id, "c-1", "first words")
    assert first.status_code == 201, first.text
    retry = await send(client, one, match_id, "c-1", "second thoughts")
    assert retry.status_code == 200 and retry.json() == first.json()
    assert await stored_count(app, match_id) == 1


async def test_a_client_id_used_in_another_conversation_is_a_409_and_stores_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    [(third, _, _)] = await pairs(app, client)
    second_match = (await matched(client, third, one))["id"]
    assert (await send(client, one, match_id, "shared-id")).status_code == 201
    before = await chat_rows(app)

    assert_problem(await send(client, one, second_match, "shared-id"), 409)

    assert await chat_rows(app) == before
    # The key is the sender's own: the other person may use the same clientId.
    assert (await send(client, other, match_id, "shared-id")).status_code == 201
