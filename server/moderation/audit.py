"""The audit log: every moderator and admin action, append-only and hash-chained.

Each row carries the hash of the row before it, and its own hash covers that and every field of its own
(``sha256(prev_hash ‖ canonical row)``), so editing, deleting or reordering a row breaks the chain from that
row on, and ``verify`` names the first seq that no longer fits. Seqs are gapless (taken under a lock, never
from a sequence, whose numbers a rolled-back transaction would skip), so a deleted row shows as a gap. The
database refuses UPDATE and DELETE with a trigger as well; the chain is what still catches someone who drops
the trigger first. What the chain cannot see is a tail cut off or rewritten whole by someone with the owner's
rights: ``verify`` answers the head hash, and noting it somewhere else from time to time closes that gap.

People appear as keyed pseudonyms, never as their user id: ``HMAC-SHA256(secrets.toml [moderation]
audit_key, user id)``. A chained row can never be edited, yet erasure must leave no table naming the erased
person. With the pseudonym the log can still be searched for someone (compute theirs and look it up), while
after their erasure nothing in it says who they were: the key alone does not invert it, and the appliance no
longer holds the user id to compute it from (older backups do, as they hold everything else, until they age
out). Rows about them stay, as the record of what staff did. ``detail``
is for the action's particulars (a reason, a decision, a photo or report id), never a person's id or words.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from server import settings as settings_module

#: names the transaction-level advisory lock that serialises appends
APPEND_LOCK = "moderation audit append"
#: the previous hash of the first row
GENESIS = bytes(32)
#: rows read per query while verifying
VERIFY_BATCH = 1000


@dataclass(frozen=True)
class Entry:
    seq: int
    at: datetime
    #: pseudonyms (see the module docstring); None for an action no person took or one about no person
    actor: bytes | None
    action: str
    subject: bytes | None
    detail: dict[str, Any]
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True)
class Verified:
    ok: bool
    #: rows found intact before the break (all of them when ok)
    checked: int
    #: the hash of the last intact row: note it elsewhere to notice a tail cut off or rewritten later
    head: bytes
    broken_at: int | None = None
    reason: str | None = None


def pseudonym(user_id: uuid.UUID, key: str | None = None) -> bytes:
    """The name ``user_id`` goes by in the audit log."""
    secret = key if key is not None else settings_module.current().secrets.moderation.audit_key
    return hmac.new(secret.encode(), user_id.bytes, hashlib.sha256).digest()


def _check_detail(value: Any, path: str = "detail") -> None:
    """Strings, integers, booleans, null, lists and objects: what jsonb gives back exactly as it was given, so
    the hash computed now still matches the row read back later (a float may not round-trip)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: keys must be strings")
            _check_detail(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_detail(item, f"{path}[{index}]")
    elif not (value is None or isinstance(value, str | bool | int)):
        raise TypeError(f"{path}: {type(value).__name__} cannot be audited; write it as a string")


def chain_hash(
    prev_hash: bytes,
    *,
    seq: int,
    at: datetime,
    actor: bytes | None,
    action: str,
    subject: bytes | None,
    detail: dict[str, Any],
) -> bytes:
    """``sha256(prev_hash ‖ canonical row)``; the row as compact JSON with sorted keys, times in UTC."""
    fields = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(),
        "actor": actor.hex() if actor is not None else None,
        "action": action,
        "subject": subject.hex() if subject is not None else None,
        "detail": detail,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(prev_hash + canonical.encode()).digest()


async def record(
    connection: asyncpg.Connection,
    actor_id: uuid.UUID | None,
    action: str,
    subject_id: uuid.UUID | None,
    detail: dict[str, Any],
) -> None:
    """Append one action, inside the caller's transaction: it is logged exactly when the action commits."""
    if not connection.is_in_transaction():
        # The lock below lasts as long as the transaction; outside one, two appends could take the same seq.
        raise RuntimeError("audit.record runs inside the transaction of the action it records")
    _check_detail(detail)
    key = settings_module.current().secrets.moderation.audit_key
    actor = pseudonym(actor_id, key) if actor_id is not None else None
    subject = pseudonym(subject_id, key) if subject_id is not None else None
    await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", APPEND_LOCK)
    # Read after the lock, in a statement of its own: under read committed it sees the append that held it. (Under
    # repeatable read it could miss it, and the insert would then fail on the primary key: never a fork.)
    last = await connection.fetchrow("SELECT seq, hash FROM moderation_audit ORDER BY seq DESC LIMIT 1")
    seq = last["seq"] + 1 if last else 1
    prev_hash = bytes(last["hash"]) if last else GENESIS
    # Microseconds, as timestamptz keeps them, so the row read back hashes as it was written.
    at = datetime.now(UTC)
    digest = chain_hash(prev_hash, seq=seq, at=at, actor=actor, action=action, subject=subject, detail=detail)
    await connection.execute(
        "INSERT INTO moderation_audit (seq, at, actor, action, subject, detail, prev_hash, hash)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
        seq,
        at,
        actor,
        action,
        subject,
        json.dumps(detail),
        prev_hash,
        digest,
    )


def _entry(row: asyncpg.Record) -> Entry:
    detail = row["detail"]
    return Entry(
        seq=row["seq"],
        at=row["at"],
        actor=bytes(row["actor"]) if row["actor"] is not None else None,
        action=row["action"],
        subject=bytes(row["subject"]) if row["subject"] is not None else None,
        detail=json.loads(detail) if isinstance(detail, str) else detail,
        prev_hash=bytes(row["prev_hash"]),
        hash=bytes(row["hash"]),
    )


async def newest(
    connection: asyncpg.Connection, limit: int, *, before: int | None = None, subject: bytes | None = None
) -> list[Entry]:
    """Up to ``limit`` entries, newest first, older than seq ``before``; only those about ``subject`` if given."""
    rows = await connection.fetch(
        "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM moderation_audit"
        " WHERE ($1::bigint IS NULL OR seq < $1) AND ($2::bytea IS NULL OR subject = $2)"
        " ORDER BY seq DESC LIMIT $3",
        before,
        subject,
        limit,
    )
    return [_entry(row) for row in rows]


async def involving(connection: asyncpg.Connection, who: bytes) -> list[Entry]:
    """Every entry naming the pseudonym ``who``, as actor or subject, oldest first."""
    rows = await connection.fetch(
        "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM moderation_audit WHERE subject = $1 OR actor = $1 ORDER BY seq",
        who,
    )
    return [_entry(row) for row in rows]


async def verify(connection: asyncpg.Connection) -> Verified:
    """Walk the chain from the first row; the first seq that does not fit, and why."""
    checked, expected_seq, prev_hash = 0, 1, GENESIS
    while True:
        rows = await connection.fetch(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM moderation_audit WHERE seq >= $1 ORDER BY seq LIMIT $2",
            expected_seq,
            VERIFY_BATCH,
        )
        for row in map(_entry, rows):
            broken = _break(row, expected_seq, prev_hash)
            if broken is not None:
                return Verified(ok=False, checked=checked, head=prev_hash, broken_at=expected_seq, reason=broken)
            checked, expected_seq, prev_hash = checked + 1, expected_seq + 1, row.hash
        if len(rows) < VERIFY_BATCH:
            return Verified(ok=True, checked=checked, head=prev_hash)


def _break(row: Entry, expected_seq: int, prev_hash: bytes) -> str | None:
    """Why ``row`` cannot be the entry at ``expected_seq`` after a row hashing to ``prev_hash``; None if it can."""
    if row.seq != expected_seq:
        return f"seq {expected_seq} is missing (deleted)"
    if row.prev_hash != prev_hash:
        # Checked before the row's own hash: a row moved here from elsewhere names another predecessor.
        return f"seq {expected_seq} does not follow seq {expected_seq - 1} (reordered, or a row before it rewritten)"
    recomputed = chain_hash(
        row.prev_hash,
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        detail=row.detail,
    )
    if not hmac.compare_digest(recomputed, row.hash):
        return f"seq {expected_seq} was edited after it was written"
    return None
