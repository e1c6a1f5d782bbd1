"""Push devices: registered per login, idempotent per token, moved to the account that registered it last,
removed by their owner, and gone with the login that registered them."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from litestar import Litestar

from tests.factories import PASSWORD, bearer, register
from tests.integration.chat.stored import assert_invalid, assert_problem

DEVICES = "/api/users/devices"


def apns_token() -> str:
    return secrets.token_hex(32)


async def add_device(
    client: httpx.AsyncClient, person: dict[str, Any], token: str, *, provider: str = "apns", platform: str = "ios"
) -> httpx.Response:
    return await client.post(
        DEVICES,
        json={"token": token, "platform": platform, "provider": provider},
        headers=bearer(person["accessToken"]),
    )


async def devices_of(app: Litestar, person: dict[str, Any]) -> list[dict[str, Any]]:
    rows = await app.state.db.pool.fetch(
        "SELECT id, token, provider, session_id FROM notification_devices WHERE user_id = $1", person["user"]["id"]
    )
    return [dict(row) for row in rows]


async def test_a_token_registered_twice_is_one_device(app: Litestar, client: httpx.AsyncClient) -> None:
    person = await register(client)
    token = apns_token()
    first = await add_device(client, person, token)
    again = await add_device(client, person, token)
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    assert first.json()["id"] == again.json()["id"]
    assert set(first.json()) == {"id", "platform", "provider", "createdAt"}, "the token is never echoed back"
    assert len(await devices_of(app, person)) == 1


async def test_a_token_moves_to_the_account_that_registered_it_last(app: Litestar, client: httpx.AsyncClient) -> None:
    one, other = await register(client), await register(client)
    token = f"ExponentPushToken[{secrets.token_urlsafe(16)}]"
    await add_device(client, one, token, provider="expo", platform="android")
    moved = await add_device(client, other, token, provider="expo", platform="android")
    assert moved.status_code == 201, moved.text
    assert await devices_of(app, one) == []
    assert [device["token"] for device in await devices_of(app, other)] == [token]


async def test_only_the_owner_removes_a_device(app: Litestar, client: httpx.AsyncClient) -> None:
    owner, stranger = await register(client), await register(client)
    device = (await add_device(client, owner, apns_token())).json()
    taken = await client.delete(f"{DEVICES}/{device['id']}", headers=bearer(stranger["accessToken"]))
    assert_problem(taken, 404)
    assert len(await devices_of(app, owner)) == 1
    removed = await client.delete(f"{DEVICES}/{device['id']}", headers=bearer(owner["accessToken"]))
    assert removed.status_code == 204
    assert await devices_of(app, owner) == []
    assert_problem(await client.delete(f"{DEVICES}/{device['id']}", headers=bearer(owner["accessToken"])), 404)


async def test_logout_removes_the_devices_of_that_login_only(app: Litestar, client: httpx.AsyncClient) -> None:
    person = await register(client)
    second_login = (
        await client.post("/api/auth/login", json={"email": person["user"]["email"], "password": PASSWORD})
    ).json()
    await add_device(client, person, apns_token())
    kept = apns_token()
    await add_device(client, {"accessToken": second_login["accessToken"]}, kept)

    out = await client.post("/api/auth/logout", headers=bearer(person["accessToken"]))
    assert out.status_code == 204, out.text
    assert [device["token"] for device in await devices_of(app, person)] == [kept]


async def test_tokens_that_do_not_fit_their_provider_are_refused(app: Litestar, client: httpx.AsyncClient) -> None:
    person = await register(client)
    assert_invalid(await add_device(client, person, "not-hex", provider="apns"), "token")
    assert_invalid(await add_device(client, person, apns_token(), provider="apns", platform="android"), "platform")
    assert_invalid(await add_device(client, person, "short", provider="fcm", platform="android"), "token")
    assert_invalid(
        await add_device(client, person, "ExponentPushToken[x]", provider="expo", platform="web"), "platform"
    )
    refused = await client.post(
        DEVICES,
        json={"token": apns_token(), "platform": "ios", "provider": "apns", "owner": "someone"},
        headers=bearer(person["accessToken"]),
    )
    assert_invalid(refused, "owner")
    assert await devices_of(app, person) == []


async def test_devices_need_a_login(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(DEVICES, json={"token": apns_token(), "platform": "ios", "provider": "apns"}), 401)
