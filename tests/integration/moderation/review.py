"""What the photo review and verification tests share: the queue item of a subject, claiming it, and the audit
entries about a person."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from piccolo.engine.postgres import PostgresEngine

from server import settings as settings_module
from server.moderation import audit
from tests.factories import bearer
from tests.services import Stack


async def queue_item(db: PostgresEngine, subject: str) -> dict[str, Any]:
    row = await db.pool.fetchrow(
        "SELECT id, kind, severity, state, claimed_by FROM moderation_queue WHERE subject = $1", uuid.UUID(subject)
    )
    assert row is not None, f"no queue item for {subject}"
    return dict(row)


async def claim(client: httpx.AsyncClient, moderator: dict[str, Any], item_id: uuid.UUID) -> httpx.Response:
    return await client.post(f"/api/admin/queue/{item_id}/claim", headers=bearer(moderator["accessToken"]))


async def audited(db: PostgresEngine, user_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(action, detail) of every entry about the person, oldest first."""
    return [
        (entry.action, entry.detail)
        for entry in await audit.involving(db.pool, audit.pseudonym(uuid.UUID(user_id)))
        if entry.subject == audit.pseudonym(uuid.UUID(user_id))
    ]


@contextlib.contextmanager
def pre_moderated(stack: Stack) -> Iterator[None]:
    """harvest.toml says `[photos] moderation = "pre"` meanwhile, as an operator would write it."""
    config = stack.root / "etc/harvest/harvest.toml"
    original = config.read_text()
    config.write_text(original + '\n[photos]\nmoderation = "pre"\n')
    settings_module.current.cache_clear()
    try:
        yield
    finally:
        config.write_text(original)
        settings_module.current.cache_clear()
