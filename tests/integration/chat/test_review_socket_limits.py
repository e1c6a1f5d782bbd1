"""Review: one account cannot multiply what its sockets cost the server, and hears why when it is refused."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import httpx
from litestar import Litestar
from websockets.exceptions import ConnectionClosed

from server.chat.presence import presence_keys
from server.chat.socket import SOCKETS_PER_PERSON
from tests.integration.chat.live import ApiWorkers, Live
from tests.integration.chat.talk import pairs


async def test_a_person_holds_at_most_sockets_per_person_and_the_next_closes_1008(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: Any
) -> None:
    [(one, _, _)] = await pairs(app, app_client)
    held = [await Live.open(workers, n % 2, one["accessToken"]) for n in range(SOCKETS_PER_PERSON)]
    extra = await Live.open(workers, 0)
    await extra.say("auth", token=one["accessToken"])
    assert await extra.closed_with() == 1008
    assert "sockets" in (extra.connection.close_reason or "")
    # Closing one makes room again, once the server has seen it go (the close handshake ends before that).
    await held.pop().close()
    key = presence_keys(uuid.UUID(one["user"]["id"]))[0]
    for _ in range(100):
        if await valkey.zcount(key, time.time(), "+inf") < SOCKETS_PER_PERSON:
            break
        await asyncio.sleep(0.05)
    held.append(await Live.open(workers, 1, one["accessToken"]))
    for live in held:
        await live.close()


async def test_opening_sockets_past_the_per_person_request_limit_closes_1008_with_when_to_retry(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(one, _, _)] = await pairs(app, app_client)
    limit = app.state.settings.config.limits.requests_per_user_per_minute
    for _ in range(limit + 1):
        live = await Live.open(workers, 0)
        await live.say("auth", token=one["accessToken"])
        with contextlib.suppress(ConnectionClosed):
            await live.next("ready")
            await live.close()
            continue
        break
    else:
        raise AssertionError("every socket was let in")
    # Not 1011 or 4500: an internal error would tell the app nothing about when to try again.
    assert live.connection.close_code == 1008
    assert "again in" in (live.connection.close_reason or "")
