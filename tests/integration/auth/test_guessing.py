"""Password guessing is throttled before any password is verified, and strangers cannot lock the owner out."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar

from tests.factories import PASSWORD, person, register, run_jobs, token_from

WRONG = "not the password at all"


@asynccontextmanager
async def from_address(app: Litestar, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def login(app: Litestar, ip: str, email: str, password: str, device_token: str | None = None) -> httpx.Response:
    body = {"email": email, "password": password} | ({"deviceToken": device_token} if device_token else {})
    async with from_address(app, ip) as client:
        return await client.post("/api/auth/login", json=body)


async def guess_from_many_addresses(app: Litestar, email: str, addresses: int, each: int) -> Counter[int]:
    """Strangers guessing at once, ``each`` wrong passwords from every address."""
    answers = await asyncio.gather(
        *(login(app, f"198.51.100.{n}", email, WRONG) for n in range(1, addresses + 1) for _ in range(each))
    )
    return Counter(answer.status_code for answer in answers)


async def test_concurrent_wrong_passwords_from_one_address_are_verified_at_most_the_limit(client, app):
    account = person()
    await register(client, **account)
    answers = await asyncio.gather(*(login(app, "203.0.113.9", account["email"], WRONG) for _ in range(20)))
    assert Counter(a.status_code for a in answers) == {401: 5, 429: 15}


async def test_strangers_guessing_from_many_addresses_are_slowed_to_one_verified_guess_at_a_time(client, app, stack):
    account = person()
    await register(client, **account)
    limits = stack.settings.config.limits
    answers = await guess_from_many_addresses(app, account["email"], addresses=30, each=1)
    # The free attempts, then the first delayed slot; everything else waits without being verified.
    assert answers == {401: limits.login_attempts_before_delay + 1, 429: 30 - limits.login_attempts_before_delay - 1}
    waiting = await login(app, "198.51.100.200", account["email"], WRONG)
    assert waiting.status_code == 429 and 1 <= int(waiting.headers["Retry-After"]) <= limits.login_delay_max_seconds


async def test_refused_guesses_from_ever_new_addresses_leave_nothing_behind(client, app, valkey):
    account = person()
    await register(client, **account)
    answers = await guess_from_many_addresses(app, account["email"], addresses=60, each=1)
    # Only the verified (wrong) guesses are remembered per client; the refused ones gave their charge back.
    [failures] = [key async for key in valkey.scan_iter("auth:login:*:fails")]
    assert await valkey.hlen(failures) == answers[401] < 60


async def test_the_owner_gets_in_from_a_known_address_or_device_while_strangers_guess(client, app, stack):
    account = person()
    created = await register(client, **account)  # from 127.0.0.1, which is now known
    phone = (await login(app, "192.0.2.50", account["email"], PASSWORD)).json()["deviceToken"]
    assert created["deviceToken"] and phone != created["deviceToken"]

    answers = await guess_from_many_addresses(app, account["email"], addresses=25, each=5)
    assert answers[401] <= stack.settings.config.limits.login_attempts_before_delay + 1

    home = await client.post("/api/auth/login", json={"email": account["email"], "password": PASSWORD})
    assert home.status_code == 200, home.text
    travelling = await login(app, "203.0.113.77", account["email"], PASSWORD, device_token=phone)
    assert travelling.status_code == 200, travelling.text
    assert travelling.json()["deviceToken"] == phone, "a known device keeps its token"
    stranger_device = await login(app, "203.0.113.78", account["email"], PASSWORD, device_token="made-up-token-value")
    assert stranger_device.status_code == 429, "an unknown token is no better than none"


async def test_a_known_device_has_its_own_budget_of_wrong_passwords(client, app):
    account = person()
    device = (await register(client, **account))["deviceToken"]
    for _ in range(5):
        assert (await login(app, "203.0.113.5", account["email"], WRONG, device_token=device)).status_code == 401
    assert (await login(app, "203.0.113.6", account["email"], WRONG, device_token=device)).status_code == 429


async def test_a_completed_password_reset_clears_what_strangers_did(client, app, db, valkey, stack):
    account = person()
    email = account["email"].strip().lower()
    await register(client, **account)
    await guess_from_many_addresses(app, email, addresses=25, each=1)
    assert (await login(app, "203.0.113.40", email, PASSWORD)).status_code == 429

    assert (await client.post("/api/auth/forgot-password", json={"email": email})).status_code == 202
    await run_jobs(valkey, db)
    token = token_from(next(m for m in stack.mailbox.to(email) if "Reset" in m["Subject"]))
    new_password = "a brand new passphrase"
    reset = await client.post("/api/auth/reset-password", json={"token": token, "newPassword": new_password})
    assert reset.status_code == 204

    assert (await login(app, "203.0.113.40", email, new_password)).status_code == 200
