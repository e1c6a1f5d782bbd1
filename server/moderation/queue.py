"""The review queue: one item per thing to review, worked by severity then age, each claimed by one moderator.

A claim is a lease: ``claim`` takes a free item (or renews one the caller holds), ``next`` takes the most urgent
free one, skipping those others are locking at that instant, so two moderators asking at once get two items.
A lease that runs out frees the item for anyone. Every claim, renewal and release is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import asyncpg

from server.errors import Conflict, NotFound
from server.moderation import audit
from server.settings import ModerationSection
from server.web.schemas import Camel

Kind = Literal["report", "photo", "verification", "appeal"]

_NEXT = """
UPDATE moderation_queue SET claimed_by = $1, lease_until = now() + $2 * interval '1 minute'
WHERE id = (
    SELECT id FROM moderation_queue
    WHERE state = 'open' AND (lease_until IS NULL OR lease_until < now()) AND kind = ANY($3::text[])
    ORDER BY severity, created_at LIMIT 1 FOR UPDATE SKIP LOCKED
)
RETURNING id, kind, subject, severity, created_at, due_at, state, claimed_by, lease_until
"""

_CLAIM = """
UPDATE moderation_queue SET claimed_by = $1, lease_until = now() + $2 * interval '1 minute'
WHERE id = $3 AND state = 'open' AND (claimed_by = $1 OR lease_until IS NULL OR lease_until < now())
RETURNING id, kind, subject, severity, created_at, due_at, state, claimed_by, lease_until
"""


class Item(Camel):
    id: uuid.UUID
    kind: Kind
    #: the report (or photo, verification request, appeal) to review
    subject: uuid.UUID
    #: 0 first: minor safety and threats; then 1; then 2
    severity: int
    created_at: dt.datetime
    #: when its SLA runs out
    due_at: dt.datetime
    state: Literal["open", "decided"]
    claimed_by: uuid.UUID | None
    lease_until: dt.datetime | None
    #: whether its SLA ran out before it was decided
    overdue: bool


def _item(row: asyncpg.Record) -> Item:
    fields = dict(row)
    return Item(**fields, overdue=fields["state"] == "open" and fields["due_at"] < dt.datetime.now(dt.UTC))


def sla(config: ModerationSection, severity: int) -> dt.timedelta:
    return [
        dt.timedelta(minutes=config.urgent_sla_minutes),
        dt.timedelta(hours=config.high_sla_hours),
        dt.timedelta(hours=config.normal_sla_hours),
    ][severity]


async def enqueue(
    connection: asyncpg.Connection, config: ModerationSection, kind: Kind, subject: uuid.UUID, severity: int
) -> uuid.UUID:
    """A new item, in the caller's transaction; its SLA counts from now."""
    item_id = uuid.uuid4()
    await connection.execute(
        "INSERT INTO moderation_queue (id, kind, subject, severity, due_at) VALUES ($1, $2, $3, $4, now() + $5)",
        item_id,
        kind,
        subject,
        severity,
        sla(config, severity),
    )
    return item_id


async def listing(connection: asyncpg.Connection, kinds: list[str], limit: int) -> list[Item]:
    """Open items, most urgent first, claimed or not."""
    rows = await connection.fetch(
        "SELECT id, kind, subject, severity, created_at, due_at, state, claimed_by, lease_until"
        " FROM moderation_queue WHERE state = 'open' AND kind = ANY($1::text[])"
        " ORDER BY severity, created_at LIMIT $2",
        kinds,
        limit,
    )
    return [_item(row) for row in rows]


async def take_next(
    connection: asyncpg.Connection, config: ModerationSection, moderator: uuid.UUID, kinds: list[str]
) -> Item | None:
    async with connection.transaction():
        row = await connection.fetchrow(_NEXT, moderator, config.lease_minutes, kinds)
        if row is not None:
            await audit.record(connection, moderator, "queue.claim", None, {"item": str(row["id"])})
    return _item(row) if row else None


async def claim(
    connection: asyncpg.Connection, config: ModerationSection, moderator: uuid.UUID, item_id: uuid.UUID
) -> Item:
    """Take (or renew) one item; 409 while another moderator holds it, 404 for none open."""
    async with connection.transaction():
        row = await connection.fetchrow(_CLAIM, moderator, config.lease_minutes, item_id)
        if row is None:
            held = await connection.fetchval(
                "SELECT claimed_by FROM moderation_queue WHERE id = $1 AND state = 'open'", item_id
            )
            if held is None:
                raise NotFound("no such open queue item")
            raise Conflict("another moderator holds this item; its lease runs out if they leave it")
        await audit.record(connection, moderator, "queue.claim", None, {"item": str(item_id)})
    return _item(row)


async def release(connection: asyncpg.Connection, moderator: uuid.UUID, item_id: uuid.UUID) -> None:
    async with connection.transaction():
        released = await connection.fetchval(
            "UPDATE moderation_queue SET claimed_by = NULL, lease_until = NULL"
            " WHERE id = $1 AND state = 'open' AND claimed_by = $2 AND lease_until > now() RETURNING id",
            item_id,
            moderator,
        )
        if released is None:
            raise Conflict("you do not hold this item")
        await audit.record(connection, moderator, "queue.release", None, {"item": str(item_id)})


async def held(connection: asyncpg.Connection, moderator: uuid.UUID, kind: Kind, subject: uuid.UUID) -> uuid.UUID:
    """The open item of this subject, locked, if the moderator holds its lease; 409 otherwise (404: no item)."""
    row = await connection.fetchrow(
        "SELECT id, claimed_by, lease_until > now() AS live FROM moderation_queue"
        " WHERE kind = $1 AND subject = $2 AND state = 'open' FOR UPDATE",
        kind,
        subject,
    )
    if row is None:
        raise NotFound(f"no open {kind} with this id in the queue")
    if row["claimed_by"] != moderator or not row["live"]:
        raise Conflict("claim this item first (POST /api/admin/queue/{itemId}/claim); decisions need its lease")
    return row["id"]  # type: ignore[no-any-return]


async def decided(connection: asyncpg.Connection, item_ids: list[uuid.UUID]) -> None:
    await connection.execute(
        "UPDATE moderation_queue SET state = 'decided', decided_at = now(), claimed_by = NULL, lease_until = NULL"
        " WHERE id = ANY($1::uuid[]) AND state = 'open'",
        item_ids,
    )


async def withdraw(connection: asyncpg.Connection, kind: Kind, subjects: list[uuid.UUID]) -> None:
    """Close the open items of subjects that are gone (a photo deleted while it waited), in the caller's
    transaction, so no moderator is handed nothing to decide."""
    await connection.execute(
        "UPDATE moderation_queue SET state = 'decided', decided_at = now(), claimed_by = NULL, lease_until = NULL"
        " WHERE kind = $1 AND subject = ANY($2::uuid[]) AND state = 'open'",
        kind,
        subjects,
    )
