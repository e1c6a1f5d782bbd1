"""Unread counts are kept with each message and each read, so they stay right however sends and reads
interleave; seqs number a conversation 1..N; a read mark never moves back."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
from litestar import Litestar

from tests.integration.chat.talk import conversations, messages, pairs, read, send

#: rounds of sending and reading at once; after each, both counts are checked (every call counts against
#: the per-person request limit of 100 a minute, which these stay under)
ROUNDS = 6
#: in each round, messages each person sends and marks each person makes, all at the same time
SENDS, READS = 4, 2
#: messages sent at once in the ordering test
AT_ONCE = 40


async def _all_messages(client: httpx.AsyncClient, person: dict[str, Any], match_id: str) -> list[dict[str, Any]]:
    """The whole conversation oldest first, following ``nextCursor`` back from the newest."""
    found: list[dict[str, Any]] = []
    page = (await messages(client, person, match_id, limit=100)).json()
    while True:
        found += page["items"]
        if page["nextCursor"] is None:
            return found[::-1]
        page = (await messages(client, person, match_id, limit=100, cursor=page["nextCursor"])).json()


async def _unread(client: httpx.AsyncClient, person: dict[str, Any]) -> int:
    [conversation] = (await conversations(client, person)).json()["items"]
    count: int = conversation["unreadCount"]
    return count


async def _assert_counts(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]], match_id: str, marks: dict[str, list[int]]
) -> list[dict[str, Any]]:
    """Each side's unread count is the number of the other's messages above its read mark, the highest mark
    its reads answered (a mark only moves forward); seqs run 1..N. The conversation, oldest first."""
    stored = await _all_messages(client, people["one"], match_id)
    assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1))
    for name, person in people.items():
        read_seq = max(marks[name], default=0)
        expected = sum(1 for m in stored if m["senderId"] != person["user"]["id"] and m["seq"] > read_seq)
        assert await _unread(client, person) == expected, f"{name}: read up to {read_seq} of {len(stored)}"
    return stored


async def test_unread_counts_match_the_messages_above_each_read_mark_after_concurrent_sends_and_reads(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    people = {"one": one, "other": other}
    sent = [(await send(client, one, match_id, "opening")).json()]
    marks: dict[str, list[int]] = {"one": [], "other": []}

    async def talk(name: str, client_id: str) -> None:
        response = await send(client, people[name], match_id, client_id, client_id)
        assert response.status_code == 201, response.text
        sent.append(response.json())

    async def mark(name: str, message: dict[str, Any]) -> None:
        response = await read(client, people[name], match_id, message["id"])
        assert response.status_code == 200, response.text
        marks[name].append(response.json()["readSeq"])

    for round_ in range(ROUNDS):
        acknowledged = list(sent)
        await asyncio.gather(
            *(talk(name, f"{name}-{round_}-{n}") for name in people for n in range(SENDS)),
            *(mark(name, acknowledged[-1 - n * round_ % len(acknowledged)]) for name in people for n in range(READS)),
        )
        await _assert_counts(client, people, match_id, marks)

    stored = await _assert_counts(client, people, match_id, marks)
    assert sorted(m["id"] for m in stored) == sorted(m["id"] for m in sent)
    for name, person in people.items():
        # Marking the first message moves nothing: it answers the mark the concurrent reads left, recounted.
        state = (await read(client, person, match_id, stored[0]["id"])).json()
        assert state["readSeq"] == max(marks[name]), name
        assert state["unreadCount"] == await _unread(client, person), name


async def test_a_read_mark_never_moves_back_and_counts_only_the_other_persons_messages(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    theirs = [(await send(client, one, match_id, f"one-{n}")).json() for n in range(4)]
    mine = (await send(client, other, match_id, "other-0")).json()
    last = (await send(client, one, match_id, "one-4")).json()

    assert (await read(client, other, match_id, theirs[2]["id"])).json()["readSeq"] == 3
    back = (await read(client, other, match_id, theirs[0]["id"])).json()
    assert back == {"matchId": match_id, "readSeq": 3, "unreadCount": 2}
    assert await _unread(client, other) == 2
    # Reading up to one's own message reads everything of theirs before it.
    assert (await read(client, other, match_id, mine["id"])).json() == {
        "matchId": match_id,
        "readSeq": 5,
        "unreadCount": 1,
    }
    assert await _unread(client, other) == 1
    assert await _unread(client, one) == 1
    assert (await read(client, other, match_id, last["id"])).json()["unreadCount"] == 0
    assert await _unread(client, other) == 0


async def test_messages_sent_at_once_are_numbered_one_to_n_and_their_times_follow_that_order(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    answers = await asyncio.gather(
        *(send(client, one if n % 2 else other, match_id, f"c-{n}", str(n)) for n in range(AT_ONCE))
    )
    assert all(answer.status_code == 201 for answer in answers)

    stored = await _all_messages(client, other, match_id)

    assert [m["seq"] for m in stored] == list(range(1, AT_ONCE + 1))
    times = [dt.datetime.fromisoformat(m["createdAt"].replace("Z", "+00:00")) for m in stored]
    assert times == sorted(times), "a message with a higher seq has an earlier createdAt"
    [conversation] = (await conversations(client, one)).json()["items"]
    assert conversation["lastMessage"] == stored[-1]
