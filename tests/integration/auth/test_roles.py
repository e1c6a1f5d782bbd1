"""Roles are enforced by guards: staff endpoints answer only moderators and admins."""

from __future__ import annotations

from tests.factories import PASSWORD, bearer, manage, register


async def test_staff_endpoints_refuse_users_and_admit_moderators(client, db):
    body = await register(client)
    assert (await client.get("/api/admin/stats")).status_code == 401
    assert (await client.get("/api/admin/stats", headers=bearer(body["accessToken"]))).status_code == 403
    assert manage("set-role", body["user"]["email"], "moderator").returncode == 0
    login = await client.post("/api/auth/login", json={"email": body["user"]["email"], "password": PASSWORD})
    stats = await client.get("/api/admin/stats", headers=bearer(login.json()["accessToken"]))
    assert stats.status_code == 200
    assert (
        stats.json()["users"] == 1 and stats.json()["registrationsLast24h"] == 1 and stats.json()["activeSessions"] == 1
    )
