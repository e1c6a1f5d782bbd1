"""Only the two people of a standing match reach its conversation: everyone and everything else is a 404 that
stores nothing and does not tell an unknown conversation from someone else's."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from litestar import Litestar

from tests.integration.chat.stored import assert_problem, chat_rows, unmatch
from tests.integration.chat.talk import messages, pairs, read, send


async def _refused_everywhere(
    client: httpx.AsyncClient, person: dict[str, Any], match_id: str, message_id: str
) -> list[dict[str, Any]]:
    """List (plain and with each cursor), send and read all answer 404; their problem bodies."""
    answers = [
        await messages(client, person, match_id),
        await messages(client, person, match_id, before=message_id),
        await messages(client, person, match_id, after=message_id),
        await send(client, person, match_id, f"intruder-{uuid.uuid4().hex[:8]}", "let me in"),
        await read(client, person, match_id, message_id),
    ]
    return [assert_problem(answer, 404) for answer in answers]


async def test_a_third_person_gets_404_on_list_send_and_read_and_nothing_is_stored(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(one, other, match_id), (third, _, _)] = await pairs(app, client, 2)
    first = (await send(client, one, match_id, "c-1", "only for you")).json()
    before = await chat_rows(app)

    refusals = await _refused_everywhere(client, third, match_id, first["id"])

    assert all("only for you" not in str(body) for body in refusals)
    assert await chat_rows(app) == before
    listed = (await messages(client, other, match_id)).json()["items"]
    assert [m["id"] for m in listed] == [first["id"]]


async def test_an_unknown_match_id_is_refused_exactly_like_someone_elses(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(one, _, match_id), (third, _, _)] = await pairs(app, client, 2)
    first = (await send(client, one, match_id, "c-1")).json()
    before = await chat_rows(app)

    unknown = await _refused_everywhere(client, third, str(uuid.uuid4()), first["id"])
    someone_elses = await _refused_everywhere(client, third, match_id, first["id"])

    assert unknown == someone_elses
    assert await chat_rows(app) == before


async def test_an_ended_match_is_404_for_both_and_its_messages_stay_as_they_were(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    first = (await send(client, one, match_id, "c-1", "before the end")).json()
    await unmatch(client, other, match_id)
    before = await chat_rows(app)

    for person in (one, other):
        await _refused_everywhere(client, person, match_id, first["id"])

    assert await chat_rows(app) == before


async def test_a_message_of_another_conversation_is_404_as_a_cursor_and_as_a_read_mark(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(one, other, match_id), (_, fourth, elsewhere)] = await pairs(app, client, 2)
    mine = (await send(client, other, match_id, "c-1")).json()
    theirs = (await send(client, fourth, elsewhere, "c-2", "not yours")).json()
    before = await chat_rows(app)

    answers = [
        await messages(client, one, match_id, before=theirs["id"]),
        await messages(client, one, match_id, after=theirs["id"]),
        await read(client, one, match_id, theirs["id"]),
    ]

    for answer in answers:
        assert "not yours" not in answer.text
        assert_problem(answer, 404)
    assert await chat_rows(app) == before
    assert (await read(client, one, match_id, mine["id"])).json()["readSeq"] == 1
