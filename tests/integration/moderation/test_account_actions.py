"""A moderator's own-initiative actions on an account: found by search, measures with a statement that says no
report was behind them, lifted again, and sessions ended."""

from __future__ import annotations

import datetime as dt
import json

import httpx
from litestar import Litestar

from tests.factories import PASSWORD, bearer, register
from tests.integration.chat.stored import assert_invalid, assert_problem
from tests.integration.moderation.staff import staff


async def test_a_suspension_on_our_own_initiative_then_lifted(app: Litestar, client: httpx.AsyncClient) -> None:
    person = await register(client)
    moderator = await staff(client, app.state.db)
    token = bearer(moderator["accessToken"])
    email = person["user"]["email"]

    [found] = (await client.get("/api/admin/users", params={"q": email}, headers=token)).json()
    assert found["id"] == person["user"]["id"] and found["measures"] == []

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    acted = await client.post(
        f"/api/admin/users/{found['id']}/actions",
        json={"action": "suspend", "rule": "spam", "note": "Sent the same link to 300 people.", "until": until},
        headers=token,
    )
    assert acted.status_code == 200, acted.text
    told = json.loads(
        await app.state.db.pool.fetchval(
            "SELECT statement FROM moderation_strikes WHERE id = $1", acted.json()["strikeId"]
        )
    )
    assert "own initiative" in told["ground"] and told["facts"] == "Sent the same link to 300 people."
    assert_problem(await client.post("/api/auth/login", json={"email": email, "password": PASSWORD}), 403)
    detail = (await client.get(f"/api/admin/users/{found['id']}", headers=token)).json()
    assert detail["measures"] == ["suspend"] and len(detail["strikes"]) == 1

    lifted = await client.post(f"/api/admin/users/{found['id']}/actions", json={"action": "lift"}, headers=token)
    assert lifted.status_code == 200, lifted.text
    assert (await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code == 200


async def test_revoking_sessions_signs_the_account_out_everywhere(app: Litestar, client: httpx.AsyncClient) -> None:
    person = await register(client)
    moderator = await staff(client, app.state.db)
    acted = await client.post(
        f"/api/admin/users/{person['user']['id']}/actions",
        json={"action": "revoke-sessions"},
        headers=bearer(moderator["accessToken"]),
    )
    assert acted.status_code == 200 and acted.json()["strikeId"] is None, acted.text
    assert_problem(await client.get("/api/users/profile", headers=bearer(person["accessToken"])), 401)


async def test_bad_actions_are_refused(app: Litestar, client: httpx.AsyncClient) -> None:
    person = await register(client)
    moderator = await staff(client, app.state.db)
    token = bearer(moderator["accessToken"])
    url = f"/api/admin/users/{person['user']['id']}/actions"
    assert_invalid(await client.post(url, json={"action": "suspend"}, headers=token), "until")
    assert_invalid(await client.post(url, json={"action": "exile"}, headers=token), "action")
    own = await client.post(
        f"/api/admin/users/{moderator['user']['id']}/actions", json={"action": "warn"}, headers=token
    )
    assert_problem(own, 403)
    assert_problem(
        await client.post(
            "/api/admin/users/00000000-0000-4000-8000-000000000000/actions", json={"action": "warn"}, headers=token
        ),
        404,
    )
    assert_problem(await client.post(url, json={"action": "warn"}, headers=bearer(person["accessToken"])), 403)
