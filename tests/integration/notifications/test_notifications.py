"""In-app notifications: made by the worker from the events matching and chat already publish, listed and marked
read over REST, and sent live as the ``notification`` frame."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from litestar import Litestar
from valkey.asyncio import Valkey

from server.chat.service import MESSAGE_WAITING
from server.listeners import LISTENERS
from server.matching.service import MATCH_CREATED
from server.notifications import jobs
from server.platform.events import Job
from server.platform.jobs import DeadLetters
from server.platform.pubsub import PubSub, person_channel
from server.privacy import registry
from tests.factories import run_jobs
from tests.integration.chat.stored import assert_problem, unmatch, waiting
from tests.integration.chat.talk import pairs, send
from tests.integration.matching.crowd import crowd_in_one_cell, headers, ids, matched

NOTIFICATIONS = "/api/notifications"

#: the fields only a moderation notification fills
NO_MODERATION = {"strikeId": None, "reportId": None, "outcome": None, "appealable": None}


async def listed(client: httpx.AsyncClient, person: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = await client.get(NOTIFICATIONS, params=params, headers=headers(person))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"items", "nextCursor"}, body
    return body


async def of_kind(client: httpx.AsyncClient, person: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [item for item in (await listed(client, person, limit=100))["items"] if item["kind"] == kind]


async def read(client: httpx.AsyncClient, person: dict[str, Any], notification_id: str) -> httpx.Response:
    return await client.put(f"{NOTIFICATIONS}/{notification_id}/read", headers=headers(person))


def test_both_events_have_a_notifications_listener() -> None:
    wired = {(listener.name, listener.on) for listener in LISTENERS}
    assert {("notifications.note_message", MESSAGE_WAITING), ("notifications.note_match", MATCH_CREATED)} <= wired


async def test_a_message_waiting_for_someone_offline_becomes_one_notification_of_ids_only(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    sent = (await send(client, one, match_id, "c-1", content="meet at the lighthouse")).json()

    await run_jobs(valkey, app.state.db)

    [note] = await of_kind(client, other, "message")
    assert note["data"] == {"matchId": match_id, "otherUserId": ids(one), "messageId": sent["id"]} | NO_MODERATION
    assert note["count"] == 1 and note["readAt"] is None and note["createdAt"]
    assert "lighthouse" not in json.dumps(await listed(client, other))
    assert await of_kind(client, one, "message") == []
    assert await DeadLetters(valkey).count() == 0


async def test_a_burst_of_five_messages_is_one_notification_counting_five(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    sent = [(await send(client, one, match_id, f"c-{n}")).json() for n in range(5)]

    await run_jobs(valkey, app.state.db)

    [note] = await of_kind(client, other, "message")
    assert note["count"] == 5
    # The worker handles the five events side by side, so "latest" is the last one handled, not the last sent.
    assert note["data"]["messageId"] in {message["id"] for message in sent}
    assert await DeadLetters(valkey).count() == 0


async def test_a_waiting_message_handled_twice_is_counted_once(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    first = (await send(client, one, match_id, "c-1")).json()
    await send(client, one, match_id, "c-2")
    [event] = await waiting(app, first["id"])
    await run_jobs(valkey, app.state.db)

    # A retry of the first message's job, late and after the second: the worker may run a job more than once.
    await jobs.note_message(
        Job(id="0-1", event=MESSAGE_WAITING, listener="notifications.note_message", payload=event, attempt=2)
    )

    [note] = await of_kind(client, other, "message")
    assert note["count"] == 2


async def test_a_read_message_notification_stays_read_and_the_next_message_starts_a_new_one(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    await send(client, one, match_id, "c-1")
    await send(client, one, match_id, "c-2")
    await run_jobs(valkey, app.state.db)
    [first] = await of_kind(client, other, "message")

    assert (await read(client, other, first["id"])).status_code == 204
    assert (await read(client, other, first["id"])).status_code == 204
    later = (await send(client, one, match_id, "c-3")).json()
    await run_jobs(valkey, app.state.db)

    newer, older = await of_kind(client, other, "message")
    assert older["id"] == first["id"] and older["readAt"] is not None and older["count"] == 2
    assert newer["readAt"] is None and newer["count"] == 1 and newer["data"]["messageId"] == later["id"]


async def test_a_match_makes_one_notification_for_each_side_naming_the_other(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)

    await run_jobs(valkey, app.state.db)
    await run_jobs(valkey, app.state.db)

    for me, you in ((one, other), (other, one)):
        [note] = await of_kind(client, me, "match")
        assert note["data"] == {"matchId": match_id, "otherUserId": ids(you), "messageId": None} | NO_MODERATION
        assert note["count"] is None and note["readAt"] is None
    assert await DeadLetters(valkey).count() == 0


async def test_a_match_ended_before_its_event_is_handled_makes_no_notification(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    await unmatch(client, one, match_id)

    await run_jobs(valkey, app.state.db)

    assert (await listed(client, one))["items"] == [] and (await listed(client, other))["items"] == []
    assert await DeadLetters(valkey).count() == 0


async def test_someone_elses_notification_cannot_be_read(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, _)] = await pairs(app, client)
    await run_jobs(valkey, app.state.db)
    [theirs] = await of_kind(client, other, "match")

    assert_problem(await read(client, one, theirs["id"]), 404)
    assert_problem(await read(client, one, str(uuid.uuid4())), 404)
    [still] = await of_kind(client, other, "match")
    assert still["readAt"] is None


async def test_notifications_page_newest_first_with_a_cursor(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, *others = await crowd_in_one_cell(app, 4)
    made = []
    for other in others:
        made.append((await matched(client, me, other))["id"])
        await run_jobs(valkey, app.state.db)

    first = await listed(client, me, limit=2)
    second = await listed(client, me, limit=2, cursor=first["nextCursor"])

    assert len(first["items"]) == 2 and first["nextCursor"] and second["nextCursor"] is None
    shown = [item["data"]["matchId"] for item in first["items"] + second["items"]]
    assert shown == made[::-1]


async def test_a_stored_notification_is_sent_live_to_its_person(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    await run_jobs(valkey, app.state.db)
    hub = PubSub(valkey)
    async with hub.subscribe(person_channel(ids(other))) as live:
        await send(client, one, match_id, "c-1", content="not for the lock screen")
        await run_jobs(valkey, app.state.db)
        frames = [json.loads((await asyncio.wait_for(anext(live), 5)).data) for _ in range(2)]
    await hub.close()

    [stored] = await of_kind(client, other, "message")
    # The message itself is published to the recipient too, as the send commits; then its notification.
    assert [frame["type"] for frame in frames] == ["message_received", "notification"]
    assert frames[1]["data"] == {"notification": stored}
    assert "lock screen" not in json.dumps(frames[1])


async def test_erasure_takes_the_persons_notifications_and_the_others_that_name_them(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    await send(client, one, match_id, "c-1")
    await run_jobs(valkey, app.state.db)
    exported = (await registry.export(uuid.UUID(ids(other))))["notifications"]["notifications"]
    assert sorted(row["kind"] for row in exported) == ["match", "message"]
    assert all(row["data"]["otherUserId"] == ids(one) for row in exported)

    await registry.erase(app.state.db, valkey, uuid.UUID(ids(one)))

    left = await app.state.db.pool.fetchval(
        "SELECT count(*) FROM notifications t WHERE t::text LIKE $1", f"%{ids(one)}%"
    )
    assert left == 0 and (await listed(client, other))["items"] == []
