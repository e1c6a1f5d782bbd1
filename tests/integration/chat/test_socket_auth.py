"""Who may hold a socket: the first frame authenticates, within the time allowed, and only while the token lasts."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
from litestar import Litestar

from server.auth.tokens import ALGORITHM, AUDIENCE
from tests.integration.chat.live import ApiWorkers, Live
from tests.integration.chat.talk import pairs


async def test_a_bad_token_closes_4401(workers: ApiWorkers) -> None:
    live = await Live.open(workers, 0)
    await live.say("auth", token="not-a-token")
    assert await live.closed_with() == 4401


async def test_no_auth_in_time_closes_4401(workers: ApiWorkers) -> None:
    live = await Live.open(workers, 1)
    started = time.monotonic()
    assert await live.closed_with() == 4401
    assert time.monotonic() - started < 5


async def test_a_first_frame_other_than_auth_closes_4401(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(_, _, match_id)] = await pairs(app, app_client)
    live = await Live.open(workers, 0)
    await live.say("send_message", matchId=match_id, clientId="c1", content="sneaky", type="text")
    assert await live.closed_with() == 4401
    assert await app.state.db.pool.fetchval("SELECT count(*) FROM chat_messages") == 0


def _token(app: Litestar, person: dict, seconds: int) -> str:
    """An access token of the person's own session that expires in ``seconds``."""
    issuer = app.state.token_issuer
    claims = jwt.decode(person["accessToken"], options={"verify_signature": False})
    now = int(time.time())
    claims |= {"iat": now, "exp": now + seconds, "jti": uuid.uuid4().hex}
    kid = issuer.signing_kid
    return jwt.encode(claims, issuer.keys[kid], algorithm=ALGORITHM, headers={"kid": kid})


async def test_the_socket_ends_with_its_token_unless_renewed(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(one, other, _)] = await pairs(app, app_client)
    assert jwt.decode(one["accessToken"], options={"verify_signature": False})["aud"] == AUDIENCE
    lapsing = await Live.open(workers, 0, _token(app, one, 2))
    renewed = await Live.open(workers, 1, _token(app, other, 2))
    await renewed.say("auth", token=_token(app, other, 60))
    await renewed.next("ready")
    assert await lapsing.closed_with(timeout=6) == 4401
    await renewed.say("ping")
    assert (await renewed.next("pong", timeout=3))["type"] == "pong"
    await renewed.close()


async def test_a_socket_cannot_change_hands(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(one, other, _)] = await pairs(app, app_client)
    live = await Live.open(workers, 0, one["accessToken"])
    await live.say("auth", token=other["accessToken"])
    assert await live.closed_with() == 4401
