"""Verification and password reset: tokens travel only by email (a real SMTP server on loopback)."""

from __future__ import annotations

from server.auth.tables import EmailToken, User
from tests.factories import PASSWORD, bearer, person, register, run_jobs, token_from


async def test_sign_up_sends_a_verification_link_that_works_once(client, db, valkey, stack):
    account = person()
    email = account["email"].strip().lower()
    await register(client, **account)
    await run_jobs(valkey, db)
    [message] = stack.mailbox.to(email)
    assert "Confirm" in message["Subject"]
    token = token_from(message)
    assert await EmailToken.count().where(EmailToken.token_hash == token) == 0, "only the hash is stored"
    assert (await client.post("/api/auth/verify-email", json={"token": token})).status_code == 204
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.json()["user"]["emailVerified"] is True
    again = await client.post("/api/auth/verify-email", json={"token": token})
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "token"


async def test_forgot_password_answers_202_whether_or_not_the_account_exists(client, db, valkey, stack):
    before = len(stack.mailbox.messages)
    response = await client.post("/api/auth/forgot-password", json={"email": "nobody-here@example.com"})
    assert response.status_code == 202
    await run_jobs(valkey, db)
    assert len(stack.mailbox.messages) == before


async def test_password_reset_ends_every_session_and_the_old_password(client, db, valkey, stack):
    account = person()
    email = account["email"].strip().lower()
    first = await register(client, **account)
    second = (await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})).json()
    assert (await client.post("/api/auth/forgot-password", json={"email": email.upper()})).status_code == 202
    await run_jobs(valkey, db)
    [reset] = [m for m in stack.mailbox.to(email) if "Reset" in m["Subject"]]
    token = token_from(reset)

    weak = await client.post("/api/auth/reset-password", json={"token": token, "newPassword": "password"})
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "newPassword"
    new_password = "a whole new passphrase"
    assert (
        await client.post("/api/auth/reset-password", json={"token": token, "newPassword": new_password})
    ).status_code == 204

    for tokens in (first, second):
        assert (await client.get("/api/auth/sessions", headers=bearer(tokens["accessToken"]))).status_code == 401
        assert (
            await client.post("/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
        ).status_code == 401
    assert (await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code == 401
    assert (await client.post("/api/auth/login", json={"email": email, "password": new_password})).status_code == 200
    reused = await client.post(
        "/api/auth/reset-password", json={"token": token, "newPassword": "yet another passphrase"}
    )
    assert reused.status_code == 422


async def test_reset_links_expire(client, db, valkey, stack):
    account = person()
    email = account["email"].strip().lower()
    await register(client, **account)
    await client.post("/api/auth/forgot-password", json={"email": email})
    await run_jobs(valkey, db)
    token = token_from(next(m for m in stack.mailbox.to(email) if "Reset" in m["Subject"]))
    await db.pool.execute("UPDATE email_tokens SET expires_at = now() - interval '1 second' WHERE purpose = 'reset'")
    expired = await client.post(
        "/api/auth/reset-password", json={"token": token, "newPassword": "fresh passphrase here"}
    )
    assert expired.status_code == 422
    assert await User.count() == 1
