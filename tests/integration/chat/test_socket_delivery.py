"""Messages over the WebSocket: acknowledged only once stored, delivered across worker processes to the right
people only, and recovered exactly once by a client that was away."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.integration.chat.live import ApiWorkers, Live
from tests.integration.chat.talk import messages, pairs, send


async def test_a_message_sent_through_one_worker_reaches_sockets_on_another(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(one, other, match_id)] = await pairs(app, app_client)
    sender = await Live.open(workers, 0, one["accessToken"])
    senders_phone = await Live.open(workers, 1, one["accessToken"])
    recipient = await Live.open(workers, 1, other["accessToken"])
    await sender.say("send_message", matchId=match_id, clientId="hello-1", content="hi!", type="text")
    ack = await sender.next("message_ack")
    message = ack["data"]["message"]
    assert ack["data"]["clientId"] == "hello-1" and message["seq"] == 1
    # Acknowledged means stored.
    stored = await app.state.db.pool.fetchval("SELECT content FROM chat_messages WHERE id = $1", message["id"])
    assert stored == "hi!"
    received = await recipient.next("message_received")
    assert received["data"]["message"] == message and received["id"] and received["time"].endswith("Z")
    assert (await senders_phone.next("message_received"))["data"]["message"]["id"] == message["id"]
    # The socket that sent it has its ack, not a copy.
    assert [f for f in await sender.quiet(0.5) if f["type"] == "message_received"] == []
    for live in (sender, senders_phone, recipient):
        await live.close()


async def test_outsiders_get_nothing_and_cannot_send(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    (one, _, match_id), (stranger, _, _) = await pairs(app, app_client, 2)
    outsider = await Live.open(workers, 1, stranger["accessToken"])
    await outsider.say("send_message", matchId=match_id, clientId="x-1", content="let me in", type="text")
    refused = await outsider.next("error")
    assert refused["data"]["problem"]["status"] == 404 and refused["data"]["clientId"] == "x-1"
    await outsider.say("join_chat", matchId=match_id)
    assert (await outsider.next("error"))["data"]["problem"]["status"] == 404
    await outsider.say("typing_start", matchId=match_id)
    assert (await outsider.next("error"))["data"]["problem"]["status"] == 404
    assert (await send(app_client, one, match_id, "private-1", "just us")).status_code == 201
    assert (await messages(app_client, stranger, match_id)).status_code == 404
    leaked = [f for f in await outsider.quiet(1.0) if f["type"] != "error"]
    assert leaked == []
    assert await app.state.db.pool.fetchval("SELECT count(*) FROM chat_messages") == 1
    await outsider.close()


async def test_a_client_that_was_away_gets_every_missed_message_once_with_after(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(one, other, match_id)] = await pairs(app, app_client)
    recipient = await Live.open(workers, 0, other["accessToken"])
    sender = await Live.open(workers, 1, one["accessToken"])
    seen: list[str] = []
    for n in range(3):
        await sender.say("send_message", matchId=match_id, clientId=f"live-{n}", content=f"live {n}", type="text")
        seen.append((await recipient.next("message_received"))["data"]["message"]["id"])
    await recipient.close()
    missed = []
    for n in range(7):
        await sender.say("send_message", matchId=match_id, clientId=f"away-{n}", content=f"away {n}", type="text")
        missed.append((await sender.next("message_ack", clientId=f"away-{n}"))["data"]["message"]["id"])
    caught_up: list[str] = []
    page = (await messages(app_client, other, match_id, after=seen[-1], limit=4)).json()
    while True:
        caught_up += [m["id"] for m in page["items"]]
        if page["nextCursor"] is None:
            break
        page = (await messages(app_client, other, match_id, cursor=page["nextCursor"], limit=4)).json()
    assert caught_up == missed
    await sender.close()


async def test_typing_reaches_the_other_person_and_ends_by_itself(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(one, other, match_id)] = await pairs(app, app_client)
    typist = await Live.open(workers, 0, one["accessToken"])
    reader = await Live.open(workers, 1, other["accessToken"])
    for _ in range(5):
        await typist.say("typing_start", matchId=match_id)
    started = await reader.next("user_typing")
    assert started["data"] == {"matchId": match_id, "userId": one["user"]["id"]}
    # Throttled: five starts in a row are one indicator; it stops by itself after [chat] typing_seconds (2 here).
    stopped = await reader.next("user_stopped_typing", timeout=4)
    assert stopped["data"]["matchId"] == match_id
    assert [f for f in await reader.quiet(0.5) if f["type"] == "user_typing"] == []
    for live in (typist, reader):
        await live.close()


async def test_presence_is_told_to_matches_only_and_read_receipts_to_both(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    (one, other, match_id), (stranger, _, _) = await pairs(app, app_client, 2)
    watcher = await Live.open(workers, 0, one["accessToken"])
    outsider = await Live.open(workers, 0, stranger["accessToken"])
    arriving = await Live.open(workers, 1, other["accessToken"])
    came = await watcher.next("presence")
    assert came["data"] == {"userId": other["user"]["id"], "online": True}
    await arriving.say("join_chat", matchId=match_id)
    assert (await arriving.next("presence"))["data"] == {"userId": one["user"]["id"], "online": True}
    sent = (await send(app_client, one, match_id, "r-1", "read me")).json()
    await arriving.say("mark_read", matchId=match_id, upToMessageId=sent["id"])
    for live in (watcher, arriving):
        receipt = await live.next("message_read")
        assert receipt["data"]["upToMessageId"] == sent["id"] and receipt["data"]["userId"] == other["user"]["id"]
    await arriving.close()
    went = await watcher.next("presence")
    assert went["data"] == {"userId": other["user"]["id"], "online": False}
    assert [f for f in await outsider.quiet(0.5) if f["type"] == "presence"] == []
    for live in (watcher, outsider):
        await live.close()
