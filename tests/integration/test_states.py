"""Photo states and account roles have one definition each, and the database refuses any other."""

from __future__ import annotations

import asyncpg
import pytest
from piccolo.engine.postgres import PostgresEngine

from server.auth.roles import Role
from server.photos.states import PhotoState


async def _user(db: PostgresEngine, role: str = "user") -> object:
    return await db.pool.fetchval(
        "INSERT INTO users (id, email, password_hash, first_name, role, created_at) "
        "VALUES (gen_random_uuid(), 'a@example.org', 'x', 'A', $1, now()) RETURNING id",
        role,
    )


async def _photo(db: PostgresEngine, user: object, state: str) -> None:
    await db.pool.execute(
        'INSERT INTO photos (id, "user", state, position, source_format, created_at) '
        "VALUES (gen_random_uuid(), $1, $2, 0, 'jpeg', now())",
        user,
        state,
    )


async def test_every_named_photo_state_is_stored_and_an_unknown_one_refused(db: PostgresEngine):
    user = await _user(db)
    for state in PhotoState:
        await _photo(db, user, state)
    with pytest.raises(asyncpg.CheckViolationError):
        await _photo(db, user, "published")


async def test_every_named_role_is_stored_and_an_unknown_one_refused(db: PostgresEngine):
    for role in Role:
        await db.pool.execute("DELETE FROM users")
        await _user(db, role)
    with pytest.raises(asyncpg.CheckViolationError):
        await _user(db, "superuser")
