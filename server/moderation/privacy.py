"""The audit log in export and erasure.

The log names people only by pseudonym (see ``audit``), so erasure has nothing to delete: once the account
is gone no table holds the user id the pseudonym was made from, and the rows about the person stay as the
record of what staff did. Export finds their rows by computing their pseudonym while the account still exists.
"""

from __future__ import annotations

import uuid
from typing import Any

from server.moderation import audit
from server.platform import database
from server.privacy.registry import DomainData


async def export(user_id: uuid.UUID) -> dict[str, Any]:
    """The staff actions about the person, and those they took themselves if they are staff; other people in
    those rows stay pseudonyms."""
    who = audit.pseudonym(user_id)
    async with database.connection(database.engine()) as connection:
        entries = await audit.involving(connection, who)
    return {
        "auditLog": [
            {
                "seq": entry.seq,
                "at": entry.at,
                "action": entry.action,
                "role": "subject" if entry.subject == who else "actor",
                "detail": entry.detail,
            }
            for entry in entries
        ]
    }


async def erase(user_id: uuid.UUID) -> None:
    """Nothing: the log never held the user id, and its rows cannot change without breaking the chain."""


PRIVACY = DomainData(name="moderation", tables=("moderation_audit",), export=export, erase=erase)
