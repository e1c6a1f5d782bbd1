"""A login that escaped the end of sessions a suspension brings (opened while it was being decided) cannot be
kept alive: refreshing it is refused as signing in is, and ends it."""

from __future__ import annotations

import uuid

import httpx
from litestar import Litestar

from tests.factories import register
from tests.integration.chat.stored import assert_problem
from tests.integration.moderation.staff import staff


async def test_a_suspended_persons_surviving_login_cannot_be_refreshed(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    person, moderator = await register(client), await staff(client, app.state.db)
    # The strike as a decision writes it, without the end of sessions that the racing sign-in slipped past.
    await app.state.db.pool.execute(
        "INSERT INTO moderation_strikes (id, user_id, moderator, measure, rule, note, until, statement)"
        " VALUES ($1, $2::uuid, $3::uuid, 'suspend', 'scam', '', now() + interval '1 day', '{}'::jsonb)",
        uuid.uuid4(),
        person["user"]["id"],
        moderator["user"]["id"],
    )

    refused = await client.post("/api/auth/refresh", json={"refreshToken": person["refreshToken"]})
    assert "suspended until" in assert_problem(refused, 403)["detail"]
    revoked = await app.state.db.pool.fetchval(
        'SELECT bool_and(revoked_at IS NOT NULL) FROM auth_sessions WHERE "user" = $1::uuid', person["user"]["id"]
    )
    assert revoked
