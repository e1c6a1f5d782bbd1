"""Personal data leaves the services' files on disk: Valkey's append-only file after an erasure, and
Postgres's log never records it."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.factories import PASSWORD, bearer, person, register
from tests.services import Stack


def _postgres_log(stack: Stack) -> bytes:
    return Path(stack.settings.layout.logs, "postgres.log").read_bytes()


def _valkey_files(stack: Stack) -> bytes:
    folder = Path(stack.settings.layout.data, "valkey")
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


async def test_an_erased_persons_cached_card_leaves_valkeys_files(stack: Stack, client, valkey):
    marker = f"unforgettable{uuid.uuid4().hex}"
    mine, other = await register(client), await register(client)
    await client.put("/api/users/profile", json={"bio": marker}, headers=bearer(mine["accessToken"]))
    seen = await client.get(f"/api/users/{mine['user']['id']}", headers=bearer(other["accessToken"]))
    assert seen.status_code == 200 and seen.json()["bio"] == marker
    deadline = time.monotonic() + 5
    while marker.encode() not in _valkey_files(stack):  # appendfsync everysec
        assert time.monotonic() < deadline, "the cached card never reached the append-only file"
        await asyncio.sleep(0.2)
    rewrites = (await valkey.info("persistence"))["aof_rewrites"]

    erased = await client.request(
        "DELETE", "/api/users/profile", json={"password": PASSWORD}, headers=bearer(mine["accessToken"])
    )
    assert erased.status_code == 204

    deadline = time.monotonic() + 30
    while (state := await valkey.info("persistence"))["aof_rewrites"] == rewrites or state["aof_rewrite_in_progress"]:
        assert time.monotonic() < deadline, "no append-only-file rewrite followed the erasure"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.1)  # whatever the rewrite left to write is on disk by now
    assert marker.encode() not in _valkey_files(stack)


async def test_postgres_log_keeps_no_email_from_a_refused_duplicate(stack: Stack, client, db):
    email = f"dup.{uuid.uuid4().hex[:10]}@example.com"
    await register(client, email=email)
    again = await client.post("/api/auth/register", json=person(email=email))
    assert again.status_code == 409
    # Whatever path the API takes, a unique violation quoting an email is logged as Postgres logs errors.
    async with db.pool.acquire() as connection:
        await connection.execute("CREATE TEMP TABLE probe (email text UNIQUE)")
        await connection.execute("INSERT INTO probe VALUES ($1)", email)
        with pytest.raises(asyncpg.UniqueViolationError):
            await connection.execute("INSERT INTO probe VALUES ($1)", email)
    deadline = time.monotonic() + 5
    while b'unique constraint "probe_email_key"' not in _postgres_log(stack):
        assert time.monotonic() < deadline, "the violation was never logged"
        await asyncio.sleep(0.1)
    assert email.encode() not in _postgres_log(stack)
