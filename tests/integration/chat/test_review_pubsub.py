"""Review: when a process's pub/sub connection drops, its sockets are told (1012) rather than left silently
missing frames, and what was sent meanwhile is found with ``?after=``."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.integration.chat.live import ApiWorkers, Live
from tests.integration.chat.talk import messages, pairs, send


async def test_a_dropped_pubsub_connection_closes_sockets_1012_and_nothing_sent_meanwhile_is_lost(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: Any
) -> None:
    [(one, other, match_id)] = await pairs(app, app_client)
    first = (await send(app_client, one, match_id, "before")).json()
    sockets = [await Live.open(workers, 0, one["accessToken"]), await Live.open(workers, 1, other["accessToken"])]
    # Valkey drops every subscriber connection, as a restart or a network fault would; the rest keeps working.
    assert await valkey.client_kill_filter(_type="pubsub") >= 2
    meanwhile = (await send(app_client, one, match_id, "meanwhile")).json()
    for live in sockets:
        assert await live.closed_with() == 1012
    page = (await messages(app_client, other, match_id, after=first["id"])).json()
    assert [m["id"] for m in page["items"]] == [meanwhile["id"]]
    # Sockets opened again get live frames again.
    sender, recipient = (
        await Live.open(workers, 0, one["accessToken"]),
        await Live.open(workers, 1, other["accessToken"]),
    )
    await sender.say("send_message", matchId=match_id, clientId="after", content="back", type="text")
    acked = (await sender.next("message_ack"))["data"]["message"]
    assert (await recipient.next("message_received"))["data"]["message"] == acked
    for live in (sender, recipient):
        await live.close()
