"""Decisions on reports, each with a strike and a statement of reasons (EU DSA Art. 17) sent to the person.

A moderator decides only an item whose lease they hold, never about their own account nor a report they filed,
and about a staff account only if they are an admin. ``dismiss`` closes the report; ``warn`` records a strike;
``restrict`` hides the person from decks; ``suspend`` (until a date) and ``ban`` also end every session at once
and refuse sign-in. A ban ends the person's matches too, and holds as an
indefinite suspension until a second moderator confirms it. A restriction or more resolves the person's other
open reports with it. Every decision and confirmation is in the audit log, in its own transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal, cast

import asyncpg
import msgspec
from piccolo.engine.postgres import PostgresEngine

from server.auth.roles import Role
from server.auth.service import AuthService
from server.errors import FieldError, Forbidden, Invalid, NotFound
from server.matching import candidates
from server.matching.service import end_all
from server.moderation import audit, queue
from server.notifications.deliveries import owe_email
from server.platform import database
from server.platform.events import publish
from server.settings import ModerationSection
from server.web.schemas import FREE_TEXT, Camel

Decision = Literal["dismiss", "warn", "restrict", "suspend", "ban"]

#: the rules a decision can rest on, as the statement of reasons words them
RULES: dict[str, str] = {
    "minor-safety": "Harvest is for adults only; content that endangers minors is removed and reported",
    "threats": "No threats of violence against anyone",
    "sexual-content": "No sexual content without consent, and no nudity in profiles",
    "harassment": "No harassment, bullying or unwanted contact after being asked to stop",
    "hate": "No hate speech or attacks on people for who they are",
    "scam": "No scams, requests for money or commercial solicitation",
    "spam": "No spam or automated activity",
    "fake-profile": "Profiles are of real people, by the people in them",
    "other-rules": "The community rules in the terms of service",
}
Rule = Literal[
    "minor-safety", "threats", "sexual-content", "harassment", "hate", "scam", "spam", "fake-profile", "other-rules"
]
#: how long one may appeal a decision
APPEAL_WINDOW = dt.timedelta(days=183)
#: the longest suspension a moderator may set
LONGEST_SUSPENSION = dt.timedelta(days=365)

_SCOPE = {
    "warn": "A warning on your account. Nothing else changes.",
    "restrict": "Your profile is hidden from other people's decks. Your matches and conversations stay.",
    "suspend": "You are signed out everywhere and cannot sign in; your profile is hidden from everyone.",
    "ban": "You are signed out everywhere and cannot sign in; your profile and matches are removed from view.",
}


class ReportDecision(Camel, forbid_unknown_fields=True):
    decision: Decision
    rule: Rule
    #: the facts, in the moderator's words; part of the statement the person receives
    note: Annotated[str, FREE_TEXT, msgspec.Meta(max_length=2000)] = ""
    #: for suspend: when it ends
    until: dt.datetime | None = None


MEASURES = ("warn", "restrict", "suspend", "ban")


class AccountAction(Camel, forbid_unknown_fields=True):
    """A measure (warn, restrict, suspend, ban) on a moderator's own initiative, ``lift`` to end the measures
    standing, or ``revoke-sessions`` to sign the account out everywhere."""

    action: Literal["warn", "restrict", "suspend", "ban", "lift", "revoke-sessions"]
    rule: Rule = "other-rules"
    note: Annotated[str, FREE_TEXT, msgspec.Meta(max_length=2000)] = ""
    until: dt.datetime | None = None


class Acted(Camel):
    user_id: uuid.UUID
    action: str
    strike_id: uuid.UUID | None


class Decided(Camel):
    report_id: uuid.UUID
    decision: Decision
    strike_id: uuid.UUID | None
    #: the person's other open reports this decision closed with it
    resolved_reports: list[uuid.UUID]


def statement(body: ReportDecision, report_reason: str | None, decided_at: dt.datetime) -> dict[str, Any]:
    """The statement of reasons: what was decided, its scope and duration, the facts, what it came from, whether
    automation was involved, the rule, and how to appeal."""
    decision, until = body.decision, body.until
    duration = (
        f"until {until:%Y-%m-%d %H:%M} UTC"
        if until
        else "until a moderator lifts it"
        if decision in ("restrict", "ban")
        else "no end: it is a record"
    )
    return {
        "decision": decision,
        "scope": _SCOPE[decision],
        "duration": duration,
        "facts": body.note or "See the report this decision answers.",
        "ground": f"a report by another person (reason: {report_reason})"
        if report_reason
        else "our own initiative: a moderator found it while reviewing the service, with no report",
        "automated": "No: a moderator reviewed the evidence and decided; no automated means were used.",
        "rule": RULES[body.rule],
        "appeal": f"You may appeal once, by {(decided_at + APPEAL_WINDOW):%Y-%m-%d}: in the app (Safety, then"
        " Decisions), or, if you cannot sign in, with the appeal code in the email we sent. A moderator who did not"
        " make this decision will review it.",
        "decidedAt": decided_at.isoformat(),
    }


def _check(body: ReportDecision, now: dt.datetime) -> None:
    if body.decision == "suspend":
        if body.until is None or body.until.tzinfo is None or not now < body.until <= now + LONGEST_SUSPENSION:
            raise Invalid(
                "a suspension needs an end within a year",
                errors=[FieldError("until", "a future date-time with a time zone, at most 365 days ahead")],
            )
    elif body.until is not None:
        raise Invalid("only a suspension has an end", errors=[FieldError("until", f"not used by {body.decision}")])


async def _staff_guard(connection: asyncpg.Connection, actor: uuid.UUID, person: uuid.UUID) -> None:
    """Staff are decided about by admins only: a moderator acting on a colleague, or on an admin above them, is a
    conflict of interest however the decision goes."""
    roles = {
        row["id"]: row["role"]
        for row in await connection.fetch("SELECT id, role FROM users WHERE id = ANY($1::uuid[])", [actor, person])
    }
    if roles.get(person) in (Role.MODERATOR, Role.ADMIN) and roles.get(actor) != Role.ADMIN:
        raise Forbidden("only an admin can act on a staff account; leave it to an admin")


class DecisionService:
    def __init__(self, db: PostgresEngine, auth: AuthService, config: ModerationSection) -> None:
        self.db = db
        self.auth = auth
        self.config = config

    async def decide_report(self, moderator: uuid.UUID, report_id: uuid.UUID, body: ReportDecision) -> Decided:
        now = dt.datetime.now(dt.UTC)
        _check(body, now)
        # A Piccolo transaction, so the events published and the sessions ended are part of it.
        async with self.db.transaction(), database.connection(self.db) as connection:
            # Every open report about the person, locked in one order before anything else: a restriction closes
            # the others (and their queue items), so two moderators deciding two reports about one person at once
            # must not each hold one and wait on the other's; the second waits, then finds its item decided.
            await connection.execute(
                "SELECT id FROM safety_reports WHERE state = 'open'"
                " AND reported = (SELECT reported FROM safety_reports WHERE id = $1) ORDER BY id FOR UPDATE",
                report_id,
            )
            item = await queue.held(connection, moderator, "report", report_id)
            report = await connection.fetchrow(
                "SELECT id, reporter, reported, reason FROM safety_reports WHERE id = $1 AND state = 'open' FOR UPDATE",
                report_id,
            )
            if report is None:
                raise NotFound("no such open report")
            person = report["reported"]
            if person == moderator:
                raise Forbidden("you cannot decide about your own account; leave it to another moderator")
            # The reporter is as much a party to the report as the person reported.
            if report["reporter"] == moderator:
                raise Forbidden("you cannot decide a report you filed; leave it to another moderator")
            if person is not None:
                await _staff_guard(connection, moderator, person)
            if person is None and body.decision != "dismiss":
                raise Invalid(
                    "the reported account was erased; there is no one to act on",
                    errors=[FieldError("decision", "dismiss it")],
                )
            decided = await self._apply(connection, moderator, report, body)
            await queue.decided(connection, [item])
            await audit.record(
                connection,
                moderator,
                f"report.{body.decision}",
                person,
                {"report": str(report_id), "rule": body.rule, "strike": str(decided["strike"] or "")},
            )
            sessions = (
                await self.auth.end_sessions_in_transaction(person, now) if body.decision in ("suspend", "ban") else []
            )
        # Closes the person's sockets at once; their access tokens were refused from the commit on.
        await self.auth.mark_revoked(sessions)
        return Decided(
            report_id=report_id,
            decision=body.decision,
            strike_id=decided["strike"],
            resolved_reports=decided["resolved"],
        )

    @staticmethod
    async def _apply(
        connection: asyncpg.Connection, moderator: uuid.UUID, report: asyncpg.Record, body: ReportDecision
    ) -> dict[str, Any]:
        report_id = report["id"]
        if body.decision == "dismiss":
            await connection.execute(
                "UPDATE safety_reports SET state = 'dismissed', resolved_at = now(), decided_by = $2 WHERE id = $1",
                report_id,
                moderator,
            )
            await _tell_reporters(connection, [report_id], "dismissed")
            return {"strike": None, "resolved": []}
        await connection.execute(
            "UPDATE safety_reports SET state = 'actioned', resolved_at = now(), decided_by = $2 WHERE id = $1",
            report_id,
            moderator,
        )
        await _tell_reporters(connection, [report_id], "actioned")
        return await _strike(
            connection, moderator, report["reported"], body, report_id=report_id, report_reason=report["reason"]
        )

    async def act(self, moderator: uuid.UUID, user_id: uuid.UUID, body: AccountAction) -> Acted:
        """A moderator's action on an account on their own initiative (no report): a measure with its strike and
        statement of reasons, lifting the measures that stand, or ending the account's sessions."""
        now = dt.datetime.now(dt.UTC)
        measure = (
            ReportDecision(decision=cast(Decision, body.action), rule=body.rule, note=body.note, until=body.until)
            if body.action in MEASURES
            else None
        )
        if measure is not None:
            _check(measure, now)
        if user_id == moderator:
            raise Forbidden("you cannot act on your own account; leave it to another moderator")
        async with self.db.transaction(), database.connection(self.db) as connection:
            if await connection.fetchval("SELECT 1 FROM users WHERE id = $1", user_id) is None:
                raise NotFound("no such account")
            await _staff_guard(connection, moderator, user_id)
            strike_id = None
            if measure is not None:
                made = await _strike(connection, moderator, user_id, measure, report_id=None, report_reason=None)
                strike_id = made["strike"]
            elif body.action == "lift":
                await connection.execute(
                    "UPDATE moderation_strikes SET until = now() WHERE user_id = $1 AND measure <> 'warn'"
                    " AND overturned_at IS NULL AND (until IS NULL OR until > now())",
                    user_id,
                )
                await publish(candidates.REFRESH, {"userId": str(user_id)})
            await audit.record(
                connection,
                moderator,
                f"account.{body.action}",
                user_id,
                {"rule": body.rule, "strike": str(strike_id or "")},
            )
            ending = body.action in ("suspend", "ban", "revoke-sessions")
            sessions = await self.auth.end_sessions_in_transaction(user_id, now) if ending else []
        await self.auth.mark_revoked(sessions)
        return Acted(user_id=user_id, action=body.action, strike_id=strike_id)

    async def confirm_ban(self, moderator: uuid.UUID, strike_id: uuid.UUID) -> None:
        """A second moderator makes a ban permanent; the one who banned cannot (403), nor the person banned, nor the
        one who reported them."""
        async with self.db.transaction(), database.connection(self.db) as connection:
            row = await connection.fetchrow(
                "SELECT s.user_id, s.moderator, s.confirmed_by, r.reporter FROM moderation_strikes s"
                " LEFT JOIN safety_reports r ON r.id = s.report_id"
                " WHERE s.id = $1 AND s.measure = 'ban' AND s.overturned_at IS NULL FOR UPDATE OF s",
                strike_id,
            )
            if row is None:
                raise NotFound("no such standing ban")
            if moderator in (row["moderator"], row["user_id"], row["reporter"]):
                raise Forbidden("a ban is confirmed by a second moderator, not the one who banned (nor the banned)")
            if row["confirmed_by"] is None:
                await connection.execute(
                    "UPDATE moderation_strikes SET confirmed_by = $1 WHERE id = $2", moderator, strike_id
                )
                await audit.record(connection, moderator, "ban.confirm", row["user_id"], {"strike": str(strike_id)})


async def _tell_reporters(connection: asyncpg.Connection, report_ids: list[uuid.UUID], outcome: str) -> None:
    """Each reporter is told, in the app, that their report was decided and whether we acted (EU DSA Art. 16(5)):
    never which measure, nor anything else about the person reported. A dismissal says it may be appealed."""
    await connection.execute(
        "INSERT INTO notifications (id, user_id, kind, data)"
        " SELECT gen_random_uuid(), reporter, 'moderation',"
        "  jsonb_build_object('reportId', id::text, 'outcome', $2::text, 'appealable', $2 = 'dismissed')"
        " FROM safety_reports WHERE id = ANY($1::uuid[]) AND reporter IS NOT NULL",
        report_ids,
        outcome,
    )


async def _strike(
    connection: asyncpg.Connection,
    moderator: uuid.UUID,
    person: uuid.UUID,
    body: ReportDecision,
    *,
    report_id: uuid.UUID | None,
    report_reason: str | None,
) -> dict[str, Any]:
    """Write a strike and put its measure in force, in the caller's transaction: a restriction or more closes the
    person's other open reports and takes them out of decks, a ban ends their matches, and the person is sent the
    statement of reasons in the app and by email."""
    strike_id = uuid.uuid4()
    told = statement(body, report_reason, dt.datetime.now(dt.UTC))
    await connection.execute(
        "INSERT INTO moderation_strikes (id, user_id, moderator, measure, rule, note, report_id, until, statement)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
        strike_id,
        person,
        moderator,
        body.decision,
        body.rule,
        body.note,
        report_id,
        body.until,
        json.dumps(told),
    )
    resolved: list[uuid.UUID] = []
    items: list[uuid.UUID] = []
    if body.decision != "warn":
        rows = await connection.fetch(
            "UPDATE safety_reports SET state = 'actioned', resolved_at = now(), decided_by = $3"
            " WHERE reported = $1 AND state = 'open' AND id IS DISTINCT FROM $2 RETURNING id",
            person,
            report_id,
            moderator,
        )
        resolved = [row["id"] for row in rows]
        await _tell_reporters(connection, resolved, "actioned")
        items = [
            row["id"]
            for row in await connection.fetch(
                "SELECT id FROM moderation_queue WHERE kind = 'report' AND subject = ANY($1::uuid[])", resolved
            )
        ]
        await queue.decided(connection, items)
        # Out of every deck from the commit on (the row is worked out again by the worker).
        await publish(candidates.REFRESH, {"userId": str(person)})
    if body.decision == "ban":
        await end_all(connection, person)
    await connection.execute(
        "INSERT INTO notifications (id, user_id, kind, data) VALUES ($1, $2, 'moderation', $3::jsonb)",
        uuid.uuid4(),
        person,
        json.dumps({"strikeId": str(strike_id)}),
    )
    await owe_email(connection, person, "decision")
    return {"strike": strike_id, "resolved": resolved}
