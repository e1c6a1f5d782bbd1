"""Review: a socket lives no longer than the login that opened it."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.factories import bearer
from tests.integration.chat.live import ApiWorkers, Live
from tests.integration.chat.talk import pairs


async def test_a_socket_of_a_login_that_ended_can_no_longer_send(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(one, _, match_id)] = await pairs(app, app_client)
    live = await Live.open(workers, 0, one["accessToken"])
    # Signing out (or "sign out everywhere" after losing a phone, or erasing the account) ends the login.
    assert (await app_client.post("/api/auth/logout", headers=bearer(one["accessToken"]))).status_code == 204
    await live.say("send_message", matchId=match_id, clientId="after-logout", content="still me?", type="text")
    assert await live.closed_with(timeout=3) == 4401
    assert await app.state.db.pool.fetchval("SELECT count(*) FROM chat_messages") == 0
