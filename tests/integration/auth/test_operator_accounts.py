"""Operators bootstrap admins and change roles on the host, through the server's management verbs."""

from __future__ import annotations

import json

from tests.factories import PASSWORD, bearer, manage, register


async def test_create_admin_prints_a_one_time_link_that_sets_the_password(client, db):
    done = manage("create-admin", "Boss@Example.com")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["created"] is True and result["email"] == "boss@example.com"
    assert result["link"] == f"https://localhost/reset-password?token={result['token']}"
    login = {"email": "boss@example.com", "password": "the boss's own passphrase"}
    assert (await client.post("/api/auth/login", json=login)).status_code == 401
    assert (
        await client.post("/api/auth/reset-password", json={"token": result["token"], "newPassword": login["password"]})
    ).status_code == 204
    signed_in = await client.post("/api/auth/login", json=login)
    assert signed_in.status_code == 200 and signed_in.json()["user"]["role"] == "admin"


async def test_set_role_changes_the_role_and_ends_current_logins(client, db):
    body = await register(client)
    email = body["user"]["email"]
    done = manage("set-role", email, "moderator")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"email": email, "role": "moderator", "previous": "user", "sessionsEnded": 1}
    assert (await client.get("/api/auth/sessions", headers=bearer(body["accessToken"]))).status_code == 401
    again = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert again.json()["user"]["role"] == "moderator"


async def test_unknown_accounts_and_roles_are_refused_with_a_reason(client, db):
    missing = manage("set-role", "nobody@example.com", "admin")
    assert missing.returncode == 4 and "no account" in missing.stderr
    body = await register(client)
    bad_role = manage("set-role", body["user"]["email"], "superuser")
    assert bad_role.returncode == 4 and "role must be one of" in bad_role.stderr
