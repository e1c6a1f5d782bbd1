"""Staff are decided about by admins only: a moderator may neither act on a colleague's or an admin's account nor
decide a report about one; an admin may."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.factories import bearer
from tests.integration.chat.stored import assert_problem
from tests.integration.chat.talk import pairs
from tests.integration.matching.crowd import headers, ids
from tests.integration.moderation.staff import staff
from tests.integration.safety.test_reports import claimed, decide, queued


async def test_only_an_admin_acts_on_a_staff_account(app: Litestar, client: httpx.AsyncClient) -> None:
    one, colleague = await staff(client, app.state.db), await staff(client, app.state.db)
    admin = await staff(client, app.state.db, role="admin")
    warn = {"action": "warn", "rule": "harassment"}

    for target in (colleague, admin):
        refused = await client.post(
            f"/api/admin/users/{target['user']['id']}/actions", json=warn, headers=bearer(one["accessToken"])
        )
        assert_problem(refused, 403)
        assert "only an admin" in refused.json()["detail"]
    acted = await client.post(
        f"/api/admin/users/{colleague['user']['id']}/actions", json=warn, headers=bearer(admin["accessToken"])
    )
    assert acted.status_code == 200, acted.text
    strikes = await app.state.db.pool.fetchval(
        "SELECT count(*) FROM moderation_strikes WHERE user_id = $1::uuid", colleague["user"]["id"]
    )
    assert strikes == 1


async def test_a_report_about_a_moderator_is_decided_by_an_admin(app: Litestar, client: httpx.AsyncClient) -> None:
    [(reporter, reported, _)] = await pairs(app, client)
    await app.state.db.pool.execute("UPDATE users SET role = 'moderator' WHERE id = $1::uuid", ids(reported))
    filed = await client.post(
        "/api/safety/reports", json={"userId": ids(reported), "reason": "harassment"}, headers=headers(reporter)
    )
    assert filed.status_code == 201, filed.text
    item = str((await queued(app, filed.json()["id"]))["id"])
    moderator, admin = await staff(client, app.state.db), await staff(client, app.state.db, role="admin")

    await claimed(client, moderator, item)
    assert_problem(await decide(client, moderator, filed.json()["id"], decision="dismiss", rule="harassment"), 403)
    released = await client.post(f"/api/admin/queue/{item}/release", headers=bearer(moderator["accessToken"]))
    assert released.status_code == 204
    await claimed(client, admin, item)
    decided = await decide(client, admin, filed.json()["id"], decision="warn", rule="harassment")
    assert decided.status_code == 200, decided.text
