"""An admin's export and erasure of someone's account, both in the audit log, erasure never of an admin nor of
oneself; and the lookup of an account's open verification request that ``harvestctl users verify`` starts from."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.factories import PASSWORD, bearer, register
from tests.integration.chat.stored import assert_problem
from tests.integration.moderation.review import audited, queue_item
from tests.integration.moderation.staff import staff
from tests.integration.moderation.test_verification import submitted


async def test_an_admin_exports_an_account_and_the_log_says_so(app: Litestar, client: httpx.AsyncClient) -> None:
    person = await register(client)
    admin = await staff(client, app.state.db, "admin")

    answer = await client.get(f"/api/admin/users/{person['user']['id']}/export", headers=bearer(admin["accessToken"]))

    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert "exportedAt" in body and body["data"]["account"]["account"]["email"] == person["user"]["email"]
    assert await audited(app.state.db, person["user"]["id"]) == [("account.export", {})]


async def test_an_admin_erases_an_account_after_logging_it(app: Litestar, client: httpx.AsyncClient) -> None:
    person = await register(client)
    admin = await staff(client, app.state.db, "admin")
    user_id = person["user"]["id"]

    erased = await client.delete(f"/api/admin/users/{user_id}", headers=bearer(admin["accessToken"]))

    assert erased.status_code == 204, erased.text
    assert await app.state.db.pool.fetchval("SELECT count(*) FROM users WHERE id = $1::uuid", user_id) == 0
    assert_problem(await client.get("/api/users/profile", headers=bearer(person["accessToken"])), 401)
    login = {"email": person["user"]["email"], "password": PASSWORD}
    assert (await client.post("/api/auth/login", json=login)).status_code == 401
    # The log names the erased person only by pseudonym, which the id still computes.
    assert await audited(app.state.db, user_id) == [("account.erase", {})]


async def test_erasure_refuses_admins_oneself_and_unknown_accounts(app: Litestar, client: httpx.AsyncClient) -> None:
    admin = await staff(client, app.state.db, "admin")
    other_admin = await staff(client, app.state.db, "admin")
    token = bearer(admin["accessToken"])

    for target in (admin, other_admin):
        assert_problem(await client.delete(f"/api/admin/users/{target['user']['id']}", headers=token), 403)
        assert await audited(app.state.db, target["user"]["id"]) == []
    assert_problem(await client.delete(f"/api/admin/users/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers=token), 404)
    assert_problem(await client.get(f"/api/admin/users/{'0' * 8}-0000-4000-8000-{'0' * 12}/export", headers=token), 404)


async def test_a_moderator_may_neither_export_nor_erase(app: Litestar, client: httpx.AsyncClient) -> None:
    person = await register(client)
    moderator = await staff(client, app.state.db)
    token = bearer(moderator["accessToken"])

    refused = assert_problem(await client.get(f"/api/admin/users/{person['user']['id']}/export", headers=token), 403)
    assert "admin" in refused["detail"]
    assert_problem(await client.delete(f"/api/admin/users/{person['user']['id']}", headers=token), 403)
    assert await audited(app.state.db, person["user"]["id"]) == []


async def test_a_moderator_finds_the_open_verification_request(app: Litestar, client: httpx.AsyncClient) -> None:
    person = await register(client)
    moderator = await staff(client, app.state.db)
    path = f"/api/admin/users/{person['user']['id']}/verification"
    token = bearer(moderator["accessToken"])
    assert_problem(await client.get(path, headers=token), 404)

    request_id = await submitted(client, person)

    found = await client.get(path, headers=token)
    assert found.status_code == 200, found.text
    item = await queue_item(app.state.db, request_id)
    assert found.json() == {"requestId": request_id, "itemId": str(item["id"])}
