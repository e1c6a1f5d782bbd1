"""What chat tests check besides talking: refusals in the problem shape, what Postgres holds afterwards, and
matches ended through the API."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from litestar import Litestar

from server.chat.service import MESSAGE_WAITING
from tests.integration.matching.crowd import UNMATCH, headers


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem of this status (api.md, Conventions); its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status, body
    return body


def assert_invalid(response: httpx.Response, field: str) -> None:
    """A 422 whose ``errors`` name ``field``, each error with a field and a message."""
    body = assert_problem(response, 422)
    errors = body.get("errors", [])
    assert all(set(error) == {"field", "message"} and error["message"] for error in errors), body
    assert field in {error["field"] for error in errors}, body


async def chat_rows(app: Litestar) -> dict[str, list[dict[str, Any]]]:
    """Every row of chat's tables and every chat event in the outbox: compared before and after a refusal."""
    pool = app.state.db.pool
    return {
        "messages": [dict(r) for r in await pool.fetch("SELECT * FROM chat_messages ORDER BY id")],
        "conversations": [dict(r) for r in await pool.fetch("SELECT * FROM chat_conversations ORDER BY match_id")],
        "waiting": await waiting(app),
    }


async def waiting(app: Litestar, message_id: str | None = None) -> list[dict[str, Any]]:
    """The ``chat.message_waiting`` events in the outbox (for one message, if given)."""
    rows = await app.state.db.pool.fetch("SELECT payload FROM job_outbox WHERE kind = $1 ORDER BY id", MESSAGE_WAITING)
    payloads = [json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"] for r in rows]
    return [p for p in payloads if message_id is None or p["messageId"] == message_id]


async def stored_count(app: Litestar, match_id: str | uuid.UUID) -> int:
    count: int = await app.state.db.pool.fetchval(
        "SELECT count(*) FROM chat_messages WHERE match_id = $1", uuid.UUID(str(match_id))
    )
    return count


async def unmatch(client: httpx.AsyncClient, person: dict[str, Any], match_id: str) -> None:
    response = await client.post(UNMATCH, json={"matchId": match_id}, headers=headers(person))
    assert response.status_code == 204, response.text
