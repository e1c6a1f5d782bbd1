"""A signed-in request moves the person's last activity in the discovery index, at most once per interval."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid

from server.matching import activity, candidates
from tests.factories import PASSWORD, bearer, manage, register

LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


async def _discoverable(client, db) -> tuple[uuid.UUID, dict]:
    """A new person with a row in the discovery index, last active long ago, who has made no signed-in request."""
    body = await register(client)
    user_id = uuid.UUID(body["user"]["id"])
    await db.pool.execute(
        'INSERT INTO locations (id, "user", cell_lat, cell_lng, moved_at) VALUES (gen_random_uuid(), $1, 52.37, 4.89, now())',
        user_id,
    )
    await candidates.refresh(user_id)
    await _set_last_active(db, user_id, LONG_AGO)
    return user_id, body


async def _set_last_active(db, user_id: uuid.UUID, when: dt.datetime) -> None:
    assert await db.pool.execute("UPDATE matching_candidates SET last_active_at = $2 WHERE id = $1", user_id, when) == (
        "UPDATE 1"
    )


async def _last_active(db, user_id: uuid.UUID) -> dt.datetime | None:
    return await db.pool.fetchval("SELECT last_active_at FROM matching_candidates WHERE id = $1", user_id)


async def test_a_request_moves_last_activity_and_another_within_the_interval_writes_nothing(client, db):
    user_id, body = await _discoverable(client, db)
    before = await db.pool.fetchval("SELECT now()")
    assert (await client.get("/api/users/profile", headers=bearer(body["accessToken"]))).status_code == 200
    assert await _last_active(db, user_id) >= before

    await _set_last_active(db, user_id, LONG_AGO)
    assert (await client.get("/api/users/preferences", headers=bearer(body["accessToken"]))).status_code == 200
    assert await _last_active(db, user_id) == LONG_AGO


async def test_a_member_made_moderator_leaves_discovery_and_notes_no_activity(client, db):
    user_id, body = await _discoverable(client, db)
    assert manage("set-role", body["user"]["email"], "moderator").returncode == 0
    assert await _last_active(db, user_id) is None  # staff are in no deck
    login = await client.post("/api/auth/login", json={"email": body["user"]["email"], "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert (await client.get("/api/admin/stats", headers=bearer(login.json()["accessToken"]))).status_code == 200
    assert await _last_active(db, user_id) is None


async def test_a_write_that_cannot_finish_in_time_is_logged_and_the_request_answers(client, db, caplog):
    user_id, body = await _discoverable(client, db)
    async with db.pool.acquire() as blocker, blocker.transaction():
        # Another transaction holds the person's row, so the activity write waits for its time limit.
        await blocker.execute("SELECT 1 FROM matching_candidates WHERE id = $1 FOR UPDATE", user_id)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="harvest.matching"):
            response = await client.get("/api/users/profile", headers=bearer(body["accessToken"]))
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert activity.WRITE_TIMEOUT_SECONDS <= elapsed < activity.WRITE_TIMEOUT_SECONDS + 1.5
    assert "last activity not recorded" in [record.message for record in caplog.records]
    assert await _last_active(db, user_id) == LONG_AGO
