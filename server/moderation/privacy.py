"""Moderation in export and erasure: the audit log, the queue, strikes and verification requests.

A person's strikes, with the statements of reasons they were sent, are in their export and go with them; the
queue holds no one's data but the moderator holding an item, whose reference clears with their account. The log
names people only by pseudonym (see ``audit``), so erasure has nothing to delete: once the account
is gone no table holds the user id the pseudonym was made from, and the rows about the person stay as the
record of what staff did. Export finds their rows by computing their pseudonym while the account still exists.
Verification requests go with the person, their selfies by a job committed with the erasure.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from server.moderation import audit, verification
from server.platform import database
from server.privacy.registry import DomainData


async def export(user_id: uuid.UUID) -> dict[str, Any]:
    """The staff actions about the person, and those they took themselves if they are staff; other people in
    those rows stay pseudonyms."""
    who = audit.pseudonym(user_id)
    async with database.connection(database.engine()) as connection:
        entries = await audit.involving(connection, who)
        strikes = await connection.fetch(
            "SELECT id, measure, rule, note, until, statement, created_at, overturned_at FROM moderation_strikes"
            " WHERE user_id = $1 ORDER BY created_at",
            user_id,
        )
        appeals = await connection.fetch(
            "SELECT id, strike_id, report_id, text, state, note, created_at, decided_at FROM moderation_appeals"
            " WHERE appellant = $1 ORDER BY created_at",
            user_id,
        )
        verifications = await verification.export(connection, user_id)
    return {
        "strikes": [dict(row) | {"statement": json.loads(row["statement"])} for row in strikes],
        "appeals": [dict(row) for row in appeals],
        "verifications": verifications,
        "auditLog": [
            {
                "seq": entry.seq,
                "at": entry.at,
                "action": entry.action,
                "role": "subject" if entry.subject == who else "actor",
                "detail": entry.detail,
            }
            for entry in entries
        ],
    }


async def erase(user_id: uuid.UUID) -> None:
    """The person's strikes; nothing in the log, which never held the user id and cannot change without breaking
    the chain."""
    async with database.connection(database.engine()) as connection:
        await connection.execute("DELETE FROM moderation_appeals WHERE appellant = $1", user_id)
        await connection.execute("DELETE FROM moderation_strikes WHERE user_id = $1", user_id)
        await verification.erase(connection, user_id)


PRIVACY = DomainData(
    name="moderation",
    tables=(
        "moderation_audit",
        "moderation_queue",
        "moderation_strikes",
        "moderation_appeals",
        "moderation_verifications",
    ),
    export=export,
    erase=erase,
)
