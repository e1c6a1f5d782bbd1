"""Staff accounts for the moderation tests: a person signed up, given a role in SQL, then signed in again so
their token carries it."""

from __future__ import annotations

from typing import Any

import httpx
from piccolo.engine.postgres import PostgresEngine

from tests.factories import PASSWORD, register


async def staff(client: httpx.AsyncClient, db: PostgresEngine, role: str = "moderator") -> dict[str, Any]:
    """The login answer of a new account with ``role``; its email is under ``["user"]["email"]``."""
    body = await register(client)
    await db.pool.execute("UPDATE users SET role = $1 WHERE id = $2::uuid", role, body["user"]["id"])
    response = await client.post("/api/auth/login", json={"email": body["user"]["email"], "password": PASSWORD})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer
