"""Unread counts are kept with each message and each read, so they stay right however sends and reads
interleave; seqs number a conversation 1..N; a read mark never moves back."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
from litestar import Litestar

from tests.integration.chat.talk import conversations, messages, pairs, read, send

#: messages each of the two sends at once
EACH = 40


async def _all_messages(client: httpx.AsyncClient, person: dict[str, Any], match_id: str) -> list[dict[str, Any]]:
    """The whole conversation oldest first, following ``nextCursor`` back from the newest."""
    found: list[dict[str, Any]] = []
    page = (await messages(client, person, match_id, limit=25)).json()
    while True:
        found += page["items"]
        if page["nextCursor"] is None:
            return found[::-1]
        page = (await messages(client, person, match_id, limit=25, cursor=page["nextCursor"])).json()


async def _unread(client: httpx.AsyncClient, person: dict[str, Any]) -> int:
    [conversation] = (await conversations(client, person)).json()["items"]
    count: int = conversation["unreadCount"]
    return count


async def test_unread_counts_match_the_messages_above_each_read_mark_after_concurrent_sends_and_reads(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    sent: list[dict[str, Any]] = []
    marks: dict[str, list[int]] = {"one": [], "other": []}

    async def sender(person: dict[str, Any], name: str) -> None:
        async def one_send(n: int) -> None:
            response = await send(client, person, match_id, f"{name}-{n}", f"{name} says {n}")
            assert response.status_code == 201, response.text
            sent.append(response.json())

        await asyncio.gather(*(one_send(n) for n in range(EACH)))

    async def reader(person: dict[str, Any], name: str, done: asyncio.Event) -> None:
        # Marks up to whatever has been acknowledged so far, newest or not, until the sending is over.
        while not done.is_set():
            if sent:
                response = await read(client, person, match_id, sent[len(marks[name]) * 7 % len(sent)]["id"])
                assert response.status_code == 200, response.text
                marks[name].append(response.json()["readSeq"])
            await asyncio.sleep(0)

    done = asyncio.Event()
    readers = [asyncio.create_task(reader(one, "one", done)), asyncio.create_task(reader(other, "other", done))]
    await asyncio.gather(sender(one, "one"), sender(other, "other"))
    done.set()
    await asyncio.gather(*readers)

    stored = await _all_messages(client, one, match_id)
    assert [m["seq"] for m in stored] == list(range(1, 2 * EACH + 1))
    assert sorted(m["id"] for m in stored) == sorted(m["id"] for m in sent)
    for name, marked in marks.items():
        assert marked and marked == sorted(marked), f"{name}'s read mark moved back: {marked}"
    for person, name in ((one, "one"), (other, "other")):
        # Marking the first message moves nothing: it answers the mark the concurrent reads left.
        state = (await read(client, person, match_id, stored[0]["id"])).json()
        assert state["readSeq"] == max(marks[name])
        expected = sum(1 for m in stored if m["senderId"] != person["user"]["id"] and m["seq"] > state["readSeq"])
        assert state["unreadCount"] == expected
        assert await _unread(client, person) == expected, name


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
        *(send(client, one if n % 2 else other, match_id, f"c-{n}", str(n)) for n in range(2 * EACH // 2))
    )
    assert all(answer.status_code == 201 for answer in answers)

    stored = await _all_messages(client, other, match_id)

    assert [m["seq"] for m in stored] == list(range(1, EACH + 1))
    times = [dt.datetime.fromisoformat(m["createdAt"].replace("Z", "+00:00")) for m in stored]
    assert times == sorted(times), "a message with a higher seq has an earlier createdAt"
    [conversation] = (await conversations(client, one)).json()["items"]
    assert conversation["lastMessage"] == stored[-1]
