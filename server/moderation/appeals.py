"""Appeals (EU DSA Art. 20): the person a strike is against, or the reporter of a dismissed report, contests the
decision once, within six months, and a moderator other than the one who decided reviews it.

Upholding an appeal against a strike marks the strike overturned, which lifts its measure at once (sign-in,
decks); matches a ban ended stay ended. Upholding an appeal against a dismissal reopens the report for a fresh
decision. Either way the appellant is told in the app, and the audit log records it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Literal

import asyncpg
import msgspec
from piccolo.engine.postgres import PostgresEngine

from server.errors import Conflict, FieldError, Forbidden, Invalid, NotFound
from server.matching import candidates
from server.moderation import audit, queue
from server.moderation.decisions import APPEAL_WINDOW
from server.platform import database, links
from server.platform.events import publish
from server.settings import ModerationSection, Settings
from server.web.schemas import FREE_TEXT, Camel

#: appeals are worked after minor safety and threats, before the rest
APPEAL_SEVERITY = 1
#: what an appeal code is for: a suspended or banned person cannot sign in, so the statement email carries a code
#: that lets them appeal that one decision without signing in
_CODE_PURPOSE = b"harvest appeal"


def appeal_code(settings: Settings, strike_id: uuid.UUID) -> str:
    return links.sign(settings.secrets.notifications.unsubscribe_key.encode(), _CODE_PURPOSE, strike_id)


class AppealDraft(Camel, forbid_unknown_fields=True):
    """Exactly one of ``strikeId`` (a decision about you) and ``reportId`` (your report, dismissed)."""

    text: Annotated[str, FREE_TEXT, msgspec.Meta(min_length=1, max_length=4000)]
    strike_id: uuid.UUID | None = None
    report_id: uuid.UUID | None = None


class CodedAppeal(Camel, forbid_unknown_fields=True):
    #: the appeal code from the statement-of-reasons email
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    text: Annotated[str, FREE_TEXT, msgspec.Meta(min_length=1, max_length=4000)]


class Appeal(Camel):
    id: uuid.UUID
    strike_id: uuid.UUID | None
    report_id: uuid.UUID | None
    state: Literal["open", "upheld", "rejected"]
    created_at: dt.datetime
    decided_at: dt.datetime | None


class AppealDecision(Camel, forbid_unknown_fields=True):
    decision: Literal["uphold", "reject"]
    #: why, in the moderator's words; the appellant is told
    note: Annotated[str, FREE_TEXT, msgspec.Meta(max_length=2000)] = ""


class Appealed(Camel):
    """The decision an appeal is against, as the moderator deciding the appeal reads it."""

    #: warn, restrict, suspend or ban; dismiss for a dismissed report
    measure: str
    rule: str | None
    note: str
    until: dt.datetime | None
    created_at: dt.datetime | None
    #: the caller made it, so another moderator must decide the appeal
    by_you: bool


class AppealView(Camel):
    id: uuid.UUID
    state: Literal["open", "upheld", "rejected"]
    #: the appellant's own words
    text: str
    #: affected: the person the decision was about; reporter: who filed the report dismissed
    appellant: Literal["affected", "reporter"]
    created_at: dt.datetime
    decided_at: dt.datetime | None
    #: the report behind the decision (its evidence at GET /api/admin/reports/{id}), if there was one
    report_id: uuid.UUID | None
    decision: Appealed


async def view(connection: asyncpg.Connection, appeal_id: uuid.UUID, caller: uuid.UUID) -> AppealView:
    """An appeal with the decision it is against; the appellant is not named, only which side they are on."""
    row = await connection.fetchrow(
        "SELECT a.id, a.state, a.text, a.created_at, a.decided_at, a.strike_id,"
        " coalesce(a.report_id, s.report_id) AS report_id, coalesce(s.measure, 'dismiss') AS measure, s.rule,"
        " coalesce(s.note, '') AS note, s.until, coalesce(s.created_at, a.dismissed_at) AS decided_on,"
        " coalesce(s.moderator, r.decided_by) AS decided_by FROM moderation_appeals a"
        " LEFT JOIN moderation_strikes s ON s.id = a.strike_id"
        " LEFT JOIN safety_reports r ON r.id = a.report_id"
        " WHERE a.id = $1",
        appeal_id,
    )
    if row is None:
        raise NotFound("no such appeal")
    return AppealView(
        id=row["id"],
        state=row["state"],
        text=row["text"],
        appellant="affected" if row["strike_id"] else "reporter",
        created_at=row["created_at"],
        decided_at=row["decided_at"],
        report_id=row["report_id"],
        decision=Appealed(
            measure=row["measure"],
            rule=row["rule"],
            note=row["note"],
            until=row["until"],
            created_at=row["decided_on"],
            by_you=row["decided_by"] == caller,
        ),
    )


class Decision(Camel):
    """A decision about the caller, with the statement of reasons they were sent and their appeal, if any."""

    id: uuid.UUID
    measure: str
    statement: dict[str, str]
    created_at: dt.datetime
    overturned_at: dt.datetime | None
    appeal: Appeal | None


def _appeal(row: asyncpg.Record) -> Appeal:
    return Appeal(
        id=row["id"],
        strike_id=row["strike_id"],
        report_id=row["report_id"],
        state=row["state"],
        created_at=row["created_at"],
        decided_at=row["decided_at"],
    )


class AppealService:
    def __init__(self, db: PostgresEngine, config: ModerationSection) -> None:
        self.db = db
        self.config = config

    async def decisions(self, user_id: uuid.UUID) -> list[Decision]:
        async with database.connection(self.db) as connection:
            rows = await connection.fetch(
                "SELECT s.id, s.measure, s.statement, s.created_at, s.overturned_at, a.id AS appeal_id, a.state,"
                " a.created_at AS appealed_at, a.decided_at FROM moderation_strikes s"
                " LEFT JOIN moderation_appeals a ON a.strike_id = s.id WHERE s.user_id = $1 ORDER BY s.created_at DESC",
                user_id,
            )
        return [
            Decision(
                id=row["id"],
                measure=row["measure"],
                statement=json.loads(row["statement"]),
                created_at=row["created_at"],
                overturned_at=row["overturned_at"],
                appeal=Appeal(
                    id=row["appeal_id"],
                    strike_id=row["id"],
                    report_id=None,
                    state=row["state"],
                    created_at=row["appealed_at"],
                    decided_at=row["decided_at"],
                )
                if row["appeal_id"]
                else None,
            )
            for row in rows
        ]

    async def appeal(self, user_id: uuid.UUID, draft: AppealDraft) -> Appeal:
        if (draft.strike_id is None) == (draft.report_id is None):
            raise Invalid(
                "appeal one decision: a strike against you, or a dismissal of your report",
                errors=[FieldError("strikeId", "give strikeId or reportId, not both")],
            )
        async with self.db.transaction(), database.connection(self.db) as connection:
            if draft.strike_id is not None:
                decided_at = await connection.fetchval(
                    "SELECT created_at FROM moderation_strikes WHERE id = $1 AND user_id = $2 AND overturned_at IS NULL",
                    draft.strike_id,
                    user_id,
                )
            else:
                decided_at = await connection.fetchval(
                    "SELECT resolved_at FROM safety_reports WHERE id = $1 AND reporter = $2 AND state = 'dismissed'",
                    draft.report_id,
                    user_id,
                )
            if decided_at is None:
                raise NotFound("no such decision of yours to appeal")
            if decided_at + APPEAL_WINDOW < dt.datetime.now(dt.UTC):
                raise Forbidden("the six months to appeal this decision have passed")
            # A dismissal is named by when it was made: a report dismissed again after an upheld appeal is a new
            # decision, appealed once in turn.
            row = await connection.fetchrow(
                "INSERT INTO moderation_appeals (id, appellant, strike_id, report_id, dismissed_at, text)"
                " VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT DO NOTHING RETURNING id, strike_id, report_id, state, created_at, decided_at",
                uuid.uuid4(),
                user_id,
                draft.strike_id,
                draft.report_id,
                decided_at if draft.report_id else None,
                draft.text,
            )
            if row is None:
                raise Conflict("this decision was appealed already; a decision is appealed once")
            await queue.enqueue(connection, self.config, "appeal", row["id"], APPEAL_SEVERITY)
        return _appeal(row)

    async def appeal_by_code(self, settings: Settings, coded: CodedAppeal) -> Appeal:
        """The appeal of someone who cannot sign in, by the code their statement email carried."""
        strike_id = links.signed_subject(
            settings.secrets.notifications.unsubscribe_key.encode(), _CODE_PURPOSE, coded.code
        )
        if strike_id is None:
            raise Invalid("this appeal code is not valid", errors=[FieldError("code", "copy it whole from the email")])
        async with database.connection(self.db) as connection:
            user_id = await connection.fetchval("SELECT user_id FROM moderation_strikes WHERE id = $1", strike_id)
        if user_id is None:
            raise NotFound("the decision this code names is gone")
        return await self.appeal(user_id, AppealDraft(text=coded.text, strike_id=strike_id))

    async def decide(self, moderator: uuid.UUID, appeal_id: uuid.UUID, body: AppealDecision) -> Appeal:
        async with self.db.transaction(), database.connection(self.db) as connection:
            item = await queue.held(connection, moderator, "appeal", appeal_id)
            row = await connection.fetchrow(
                "SELECT a.appellant, a.strike_id, a.report_id, coalesce(s.moderator, r.decided_by) AS decided_by,"
                " s.user_id AS struck, r.reporter, r.reported FROM moderation_appeals a"
                " LEFT JOIN moderation_strikes s ON s.id = a.strike_id"
                # A strike's own report too: whoever filed it is in the decision appealed.
                " LEFT JOIN safety_reports r ON r.id = coalesce(a.report_id, s.report_id)"
                " WHERE a.id = $1 AND a.state = 'open' FOR UPDATE OF a",
                appeal_id,
            )
            if row is None:
                raise NotFound("no such open appeal")
            if moderator in (row["decided_by"], row["appellant"], row["reporter"], row["reported"]):
                raise Forbidden("an appeal is decided by a moderator who did not make the decision and is not in it")
            state = "upheld" if body.decision == "uphold" else "rejected"
            decided = await connection.fetchrow(
                "UPDATE moderation_appeals SET state = $2, decided_by = $3, note = $4, decided_at = now() WHERE id = $1"
                " RETURNING id, strike_id, report_id, state, created_at, decided_at",
                appeal_id,
                state,
                moderator,
                body.note,
            )
            if body.decision == "uphold":
                await self._reverse(connection, row)
            await queue.decided(connection, [item])
            await connection.execute(
                "INSERT INTO notifications (id, user_id, kind, data) VALUES ($1, $2, 'moderation', $3::jsonb)",
                uuid.uuid4(),
                row["appellant"],
                json.dumps({"strikeId": str(row["strike_id"])} if row["strike_id"] else {}),
            )
            await audit.record(
                connection, moderator, f"appeal.{body.decision}", row["appellant"], {"appeal": str(appeal_id)}
            )
        return _appeal(decided)

    async def _reverse(self, connection: asyncpg.Connection, row: asyncpg.Record) -> None:
        if row["strike_id"] is not None:
            await connection.execute(
                "UPDATE moderation_strikes SET overturned_at = now() WHERE id = $1", row["strike_id"]
            )
            # Back in decks from the commit on, if nothing else stands against them.
            await publish(candidates.REFRESH, {"userId": str(row["struck"])})
        else:
            await connection.execute(
                "UPDATE safety_reports SET state = 'open', resolved_at = NULL WHERE id = $1", row["report_id"]
            )
            await connection.execute(
                "UPDATE moderation_queue SET state = 'open', decided_at = NULL, due_at = now() + $2"
                " WHERE kind = 'report' AND subject = $1",
                row["report_id"],
                queue.sla(self.config, APPEAL_SEVERITY),
            )
