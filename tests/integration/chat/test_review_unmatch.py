"""Review: once a match has ended, nothing of the conversation reaches the other person, even before the
worker has told the sockets (``match_ended``)."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.integration.chat.live import ApiWorkers, Live
from tests.integration.chat.stored import unmatch
from tests.integration.chat.talk import pairs


async def test_typing_after_an_unmatch_reaches_nobody_and_is_a_404(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(one, other, match_id)] = await pairs(app, app_client)
    typist = await Live.open(workers, 0, one["accessToken"])
    left = await Live.open(workers, 1, other["accessToken"])
    await typist.say("join_chat", matchId=match_id)
    await typist.next("presence")
    await unmatch(app_client, other, match_id)  # no worker runs: match_ended is still in the outbox
    await typist.say("typing_start", matchId=match_id)
    assert (await typist.next("error"))["data"]["problem"]["status"] == 404
    assert [f for f in await left.quiet(1.0) if f["type"] in {"user_typing", "user_stopped_typing"}] == []
    for live in (typist, left):
        await live.close()
