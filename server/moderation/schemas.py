"""What the audit endpoints answer. People are pseudonyms in hex (see ``audit``), never user ids."""

from __future__ import annotations

import datetime as dt
from typing import Any

from server.moderation.audit import Entry, Verified
from server.web.schemas import Camel


class AuditEntryView(Camel):
    seq: int
    at: dt.datetime
    #: the pseudonym of the staff member who acted; null for an action the system took
    actor: str | None
    action: str
    #: the pseudonym of the person acted on; null for an action about no one
    subject: str | None
    detail: dict[str, Any]
    #: this entry's link in the chain, hex
    hash: str

    @classmethod
    def of(cls, entry: Entry) -> AuditEntryView:
        return cls(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor.hex() if entry.actor is not None else None,
            action=entry.action,
            subject=entry.subject.hex() if entry.subject is not None else None,
            detail=entry.detail,
            hash=entry.hash.hex(),
        )


class AuditPage(Camel):
    items: list[AuditEntryView]
    next_cursor: str | None = None


class AuditVerification(Camel):
    ok: bool
    #: entries found intact before the break (all of them when ok)
    checked: int
    #: the hash of the last intact entry, hex: note it elsewhere to notice later whether the tail was rewritten
    head: str
    #: the first seq that does not fit, when not ok
    broken_at: int | None = None
    reason: str | None = None

    @classmethod
    def of(cls, verified: Verified) -> AuditVerification:
        return cls(
            ok=verified.ok,
            checked=verified.checked,
            head=verified.head.hex(),
            broken_at=verified.broken_at,
            reason=verified.reason,
        )
