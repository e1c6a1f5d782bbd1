"""What chat hands to the rest of the system: a waiting-message event for a recipient with no socket online,
committed with the message, and the end of a conversation told to both people when a match ends."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from litestar import Litestar
from valkey.asyncio import Valkey

from server.chat.presence import Presence
from server.listeners import LISTENERS
from server.matching.service import MATCH_ENDED
from server.platform.jobs import DELAYED, DeadLetters
from server.platform.pubsub import person_channel
from tests.factories import run_jobs
from tests.integration.chat.stored import unmatch, waiting
from tests.integration.chat.talk import pairs, send
from tests.integration.matching.crowd import ids


async def test_a_message_to_someone_offline_leaves_one_waiting_event_committed_with_it(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    sent = (await send(client, one, match_id, "c-1")).json()

    [event] = await waiting(app, sent["id"])

    assert event == {"messageId": sent["id"], "matchId": match_id, "senderId": ids(one), "recipientId": ids(other)}
    # One transaction wrote both rows: each row's xmin is the id of the transaction that inserted it.
    pool = app.state.db.pool
    message_tx = await pool.fetchval("SELECT xmin::text FROM chat_messages WHERE id = $1", uuid.UUID(sent["id"]))
    event_tx = await pool.fetchval(
        "SELECT xmin::text FROM job_outbox WHERE kind = 'chat.message_waiting' AND payload->>'messageId' = $1",
        sent["id"],
    )
    assert message_tx == event_tx


async def test_a_message_to_someone_online_leaves_no_waiting_event(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    await Presence(valkey, 60).renew(uuid.UUID(ids(other)), "sock-1")

    sent = (await send(client, one, match_id, "c-1")).json()
    # The sender being offline changes nothing about the recipient.
    back = (await send(client, other, match_id, "c-2")).json()

    assert await waiting(app, sent["id"]) == []
    assert len(await waiting(app, back["id"])) == 1


async def test_a_lapsed_presence_entry_counts_as_offline(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    await Presence(valkey, 1).renew(uuid.UUID(ids(other)), "sock-that-died")
    await asyncio.sleep(1.2)

    sent = (await send(client, one, match_id, "c-1")).json()

    assert len(await waiting(app, sent["id"])) == 1


async def _frames(pubsub: Any, kind: str, expected: int) -> list[dict[str, Any]]:
    """The first ``expected`` frames of ``kind`` published on the subscribed channels (others skipped)."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while len(found) < expected:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            frame = json.loads(message["data"])
            if frame["type"] == kind:
                found.append(frame | {"channel": message["channel"]})
    return found


async def test_unmatch_publishes_match_ended_and_its_listener_tells_both_people(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    assert any(listener.name == "chat.end_conversation" and listener.on == MATCH_ENDED for listener in LISTENERS)
    pubsub = valkey.pubsub()
    channels = {person_channel(ids(one)), person_channel(ids(other))}
    await pubsub.subscribe(*channels)
    try:
        await unmatch(client, one, match_id)

        [row] = await app.state.db.pool.fetch("SELECT payload FROM job_outbox WHERE kind = $1", MATCH_ENDED)
        event = json.loads(row["payload"])
        assert event["matchId"] == match_id and sorted(event["userIds"]) == sorted([ids(one), ids(other)])

        await run_jobs(valkey, app.state.db)
        ended = await _frames(pubsub, "match_ended", 2)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]

    assert {frame["channel"] for frame in ended} == channels
    assert all(frame["data"] == {"matchId": match_id} for frame in ended)
    assert await DeadLetters(valkey).count() == 0
    assert [await valkey.zcard(key) for key in DELAYED.values()] == [0] * len(DELAYED)
