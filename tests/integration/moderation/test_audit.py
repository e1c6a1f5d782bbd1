"""The audit log: a gapless chain that the database keeps append-only, whose verify names the first row tampered
with, and which never names a person in the clear."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from piccolo.engine.postgres import PostgresEngine

from server.moderation import audit
from tests.factories import PASSWORD, bearer, register
from tests.integration.moderation.staff import staff


async def _record(db: PostgresEngine, actor: uuid.UUID | None, subject: uuid.UUID | None, **detail: Any) -> None:
    async with db.pool.acquire() as connection, connection.transaction():
        await audit.record(connection, actor, "user.warn", subject, detail)


async def _verify(db: PostgresEngine) -> audit.Verified:
    async with db.pool.acquire() as connection:
        return await audit.verify(connection)


@pytest.fixture
async def tamperable(db: PostgresEngine) -> AsyncIterator[PostgresEngine]:
    """The log with its append-only trigger off, as the database's owner could turn it off; on again after."""
    await db.pool.execute("ALTER TABLE moderation_audit DISABLE TRIGGER moderation_audit_append_only")
    try:
        yield db
    finally:
        await db.pool.execute("ALTER TABLE moderation_audit ENABLE TRIGGER moderation_audit_append_only")


async def test_chain_verifies_after_many_appends_some_concurrent(db):
    moderator, person = uuid.uuid4(), uuid.uuid4()
    for n in range(15):
        await _record(db, moderator, person, reason=f"sequential {n}", strikes=n, flags=[True, None])
    await asyncio.gather(*(_record(db, moderator, person, reason=f"concurrent {n}") for n in range(15)))

    verified = await _verify(db)
    assert verified.ok and verified.checked == 30, verified
    seqs = [row["seq"] for row in await db.pool.fetch("SELECT seq FROM moderation_audit ORDER BY seq")]
    assert seqs == list(range(1, 31)), "appends skipped or shared a seq"
    last = await db.pool.fetchval("SELECT hash FROM moderation_audit WHERE seq = 30")
    assert verified.head == last


async def test_record_outside_a_transaction_is_refused(db):
    async with db.pool.acquire() as connection:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            await audit.record(connection, uuid.uuid4(), "user.warn", uuid.uuid4(), {})


async def test_detail_that_would_not_hash_the_same_when_read_back_is_refused(db):
    async with db.pool.acquire() as connection, connection.transaction():
        with pytest.raises(TypeError, match=r"detail\.score"):
            await audit.record(connection, uuid.uuid4(), "user.warn", uuid.uuid4(), {"score": 0.1})


async def test_update_and_delete_are_refused_by_the_database(db):
    await _record(db, uuid.uuid4(), uuid.uuid4(), reason="spam")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.pool.execute("UPDATE moderation_audit SET action = 'user.unban'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.pool.execute("DELETE FROM moderation_audit")
    assert (await _verify(db)).ok


async def _five(db: PostgresEngine) -> None:
    for n in range(5):
        await _record(db, uuid.uuid4(), uuid.uuid4(), reason=f"number {n}")


async def test_an_edited_row_is_named(tamperable):
    await _five(tamperable)
    await tamperable.pool.execute(
        "UPDATE moderation_audit SET detail = jsonb_build_object('reason', 'nothing happened') WHERE seq = 3"
    )
    verified = await _verify(tamperable)
    assert (verified.ok, verified.broken_at, verified.checked) == (False, 3, 2)
    assert "edited" in (verified.reason or "")


async def test_an_edit_that_recomputes_its_own_hash_breaks_the_next_link(tamperable):
    await _five(tamperable)
    row = await tamperable.pool.fetchrow("SELECT * FROM moderation_audit WHERE seq = 3")
    forged = audit.chain_hash(
        bytes(row["prev_hash"]),
        seq=3,
        at=row["at"],
        actor=bytes(row["actor"]),
        action="user.unban",
        subject=bytes(row["subject"]),
        detail={"reason": "number 2"},
    )
    await tamperable.pool.execute("UPDATE moderation_audit SET action = 'user.unban', hash = $1 WHERE seq = 3", forged)
    verified = await _verify(tamperable)
    assert (verified.ok, verified.broken_at, verified.checked) == (False, 4, 3)


async def test_a_deleted_row_is_named(tamperable):
    await _five(tamperable)
    await tamperable.pool.execute("DELETE FROM moderation_audit WHERE seq = 3")
    verified = await _verify(tamperable)
    assert (verified.ok, verified.broken_at, verified.checked) == (False, 3, 2)
    assert "missing" in (verified.reason or "")


async def test_a_swapped_pair_is_named(tamperable):
    await _five(tamperable)
    # Through a free seq: the primary key is checked row by row.
    for old, new in ((3, 1000), (4, 3), (1000, 4)):
        await tamperable.pool.execute("UPDATE moderation_audit SET seq = $2 WHERE seq = $1", old, new)
    verified = await _verify(tamperable)
    assert (verified.ok, verified.broken_at, verified.checked) == (False, 3, 2)
    assert "does not follow" in (verified.reason or "")


async def test_staff_page_through_the_log_newest_first_and_search_it_by_person(client, db):
    moderator = await staff(client, db, "moderator")
    token = bearer(moderator["accessToken"])
    actor = uuid.UUID(moderator["user"]["id"])
    alice, bob = uuid.uuid4(), uuid.uuid4()
    for n in range(5):
        await _record(db, actor, alice if n % 2 == 0 else bob, reason=f"number {n}")

    first = (await client.get("/api/admin/audit", params={"limit": 2}, headers=token)).json()
    assert [entry["seq"] for entry in first["items"]] == [5, 4]
    assert first["items"][0]["detail"] == {"reason": "number 4"}
    assert first["items"][0]["actor"] == audit.pseudonym(actor).hex()
    rest = await client.get("/api/admin/audit", params={"limit": 10, "cursor": first["nextCursor"]}, headers=token)
    assert [entry["seq"] for entry in rest.json()["items"]] == [3, 2, 1] and rest.json()["nextCursor"] is None

    about_bob = (await client.get("/api/admin/audit", params={"subject": str(bob)}, headers=token)).json()
    assert [entry["seq"] for entry in about_bob["items"]] == [4, 2]
    assert {entry["subject"] for entry in about_bob["items"]} == {audit.pseudonym(bob).hex()}

    admin = await staff(client, db, "admin")
    verified = await client.get("/api/admin/audit/verify", headers=bearer(admin["accessToken"]))
    assert verified.status_code == 200
    assert verified.json() | {"head": None} == {
        "ok": True,
        "checked": 5,
        "head": None,
        "brokenAt": None,
        "reason": None,
    }


async def test_a_plain_user_is_refused_the_log_and_its_verification(client):
    person = await register(client)
    for path in ("/api/admin/audit", "/api/admin/audit/verify"):
        response = await client.get(path, headers=bearer(person["accessToken"]))
        assert response.status_code == 403, path
        assert (await client.get(path)).status_code == 401, path


async def test_erasure_leaves_the_entries_but_no_plaintext_id(client, db):
    moderator = await staff(client, db)
    person = await register(client)
    user_id = person["user"]["id"]
    await _record(db, uuid.UUID(moderator["user"]["id"]), uuid.UUID(user_id), reason="rude opener")

    export = await client.get("/api/users/export", headers=bearer(person["accessToken"]))
    [entry] = export.json()["data"]["moderation"]["auditLog"]
    assert (entry["action"], entry["role"], entry["detail"]) == ("user.warn", "subject", {"reason": "rude opener"})

    erased = await client.request(
        "DELETE", "/api/users/profile", json={"password": PASSWORD}, headers=bearer(person["accessToken"])
    )
    assert erased.status_code == 204
    mentions = await db.pool.fetchval(
        "SELECT count(*) FROM moderation_audit t WHERE t::text LIKE $1 OR t::text LIKE $2",
        f"%{user_id}%",
        f"%{uuid.UUID(user_id).hex}%",
    )
    assert mentions == 0
    assert await db.pool.fetchval("SELECT count(*) FROM moderation_audit") == 1
    assert (await _verify(db)).ok
