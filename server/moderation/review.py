"""``/api/admin`` review routes: the queue, claiming and releasing items, a report as the moderator sees it, and
decisions. Moderators and admins only; every claim, release and decision is in the audit log."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from server.auth.roles import Role
from server.errors import NotFound
from server.moderation import appeals, queue
from server.moderation.appeals import Appeal, AppealDecision, AppealService, AppealView
from server.moderation.decisions import AccountAction, Acted, Decided, DecisionService, ReportDecision
from server.moderation.stats import ModerationStats, figures
from server.platform import database
from server.web.auth import Caller, auth_service, requires_role
from server.web.schemas import Camel

QueueKind = Literal["reports", "photos", "verifications", "appeals"]
_KINDS = {"reports": "report", "photos": "photo", "verifications": "verification", "appeals": "appeal"}


class QueueList(Camel):
    items: list[queue.Item]


class ReportView(Camel):
    """A report as the moderator sees it: who filed it about whom, why, and the evidence frozen when it was filed."""

    id: uuid.UUID
    reporter_id: uuid.UUID | None
    reported_id: uuid.UUID | None
    reason: str
    details: str
    message_id: uuid.UUID | None
    photo_id: uuid.UUID | None
    evidence: dict[str, Any]
    state: str
    created_at: dt.datetime
    #: the reported person's earlier strikes, newest first
    strikes: list[dict[str, Any]]


class Account(Camel):
    id: uuid.UUID
    email: str
    first_name: str
    role: str
    created_at: dt.datetime
    #: restrict, suspend, ban: what stands against the account now
    measures: list[str]


class AccountDetail(Account):
    strikes: list[dict[str, Any]]
    #: reports about them, newest first (their evidence is at GET /api/admin/reports/{id})
    reports_about: list[dict[str, Any]]
    reports_filed: int


_ACCOUNTS = """
SELECT u.id, u.email, u.first_name, u.role, u.created_at,
       coalesce(array_agg(DISTINCT s.measure) FILTER (WHERE s.id IS NOT NULL), ARRAY[]::text[]) AS measures
FROM users u
LEFT JOIN moderation_strikes s ON s.user_id = u.id AND s.measure <> 'warn' AND s.overturned_at IS NULL
    AND (s.until IS NULL OR s.until > now())
WHERE ($1::uuid IS NULL OR u.id = $1) AND ($2::text IS NULL OR u.email ILIKE $2 || '%' OR u.first_name ILIKE $2)
GROUP BY u.id ORDER BY u.created_at DESC LIMIT $3
"""


def decision_service(state: State) -> DecisionService:
    return DecisionService(state.db, auth_service(state), state.settings.config.moderation)


Decisions = NamedDependency[DecisionService]


class ReviewController(Controller):
    path = "/api/admin"
    tags = ["moderation"]
    guards = [requires_role(Role.MODERATOR, Role.ADMIN)]
    dependencies = {"decisions": Provide(decision_service, sync_to_thread=False)}

    @get("/queue")
    async def queue_items(
        self,
        state: State,
        kind: FromQuery[QueueKind | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> QueueList:
        """Open items, most urgent first (severity, then age), with their SLA deadline, whether it has passed,
        and who holds each."""
        kinds = [_KINDS[kind]] if kind else list(_KINDS.values())
        async with database.connection(state.db) as connection:
            return QueueList(items=await queue.listing(connection, kinds, limit))

    @post("/queue/next", status_code=HTTP_200_OK)
    async def next_item(
        self, state: State, claims: Caller, kind: FromQuery[QueueKind | None] = None
    ) -> queue.Item | None:
        """Claim the most urgent free item (of ``kind``); two moderators asking at once get two items. null when
        nothing is free."""
        kinds = [_KINDS[kind]] if kind else list(_KINDS.values())
        async with database.connection(state.db) as connection:
            return await queue.take_next(connection, state.settings.config.moderation, claims.user_id, kinds)

    @post("/queue/{item_id:uuid}/claim", status_code=HTTP_200_OK)
    async def claim(self, item_id: FromPath[uuid.UUID], state: State, claims: Caller) -> queue.Item:
        """Claim an item, or renew your claim; the lease lasts `[moderation] lease_minutes`. 409 while another
        moderator holds it."""
        async with database.connection(state.db) as connection:
            return await queue.claim(connection, state.settings.config.moderation, claims.user_id, item_id)

    @post("/queue/{item_id:uuid}/release", status_code=HTTP_204_NO_CONTENT)
    async def release(self, item_id: FromPath[uuid.UUID], state: State, claims: Caller) -> None:
        """Give an item back unworked; 409 if you do not hold it."""
        async with database.connection(state.db) as connection:
            await queue.release(connection, claims.user_id, item_id)

    @get("/reports/{report_id:uuid}")
    async def report(self, report_id: FromPath[uuid.UUID], state: State) -> ReportView:
        async with database.connection(state.db) as connection:
            row = await connection.fetchrow(
                "SELECT id, reporter, reported, reason, details, message_id, photo_id, evidence, state, created_at"
                " FROM safety_reports WHERE id = $1",
                report_id,
            )
            if row is None:
                raise NotFound("no such report")
            strikes = await connection.fetch(
                "SELECT id, measure, rule, until, created_at, overturned_at FROM moderation_strikes"
                " WHERE user_id = $1 ORDER BY created_at DESC",
                row["reported"],
            )
        return ReportView(
            id=row["id"],
            reporter_id=row["reporter"],
            reported_id=row["reported"],
            reason=row["reason"],
            details=row["details"],
            message_id=row["message_id"],
            photo_id=row["photo_id"],
            evidence=json.loads(row["evidence"]),
            state=row["state"],
            created_at=row["created_at"],
            strikes=[dict(strike) for strike in strikes],
        )

    @post("/reports/{report_id:uuid}/decision", status_code=HTTP_200_OK)
    async def decide(
        self, report_id: FromPath[uuid.UUID], data: JSONBody[ReportDecision], decisions: Decisions, claims: Caller
    ) -> Decided:
        """Decide a report whose queue item you hold (409 otherwise; 403 about your own account): `dismiss`,
        `warn`, `restrict` (out of decks), `suspend` (with `until`, signed out at once) or `ban` (signed out, matches
        ended; a suspension until a second moderator confirms it). Each but dismiss writes a strike and sends the
        person the statement of reasons, in the app and by email; a restriction or more closes their other open
        reports."""
        return await decisions.decide_report(claims.user_id, report_id, data)

    @get("/appeals/{appeal_id:uuid}")
    async def appeal(self, appeal_id: FromPath[uuid.UUID], state: State, claims: Caller) -> AppealView:
        """An appeal in the appellant's words, which side of the decision they are on, and the decision appealed
        (`byYou`: yours, so another moderator decides the appeal); the report behind it, if any, is `reportId`."""
        async with database.connection(state.db) as connection:
            return await appeals.view(connection, appeal_id, claims.user_id)

    @post("/appeals/{appeal_id:uuid}/decision", status_code=HTTP_200_OK)
    async def decide_appeal(
        self, appeal_id: FromPath[uuid.UUID], data: JSONBody[AppealDecision], state: State, claims: Caller
    ) -> Appeal:
        """Uphold or reject an appeal whose queue item you hold (409 otherwise); 403 if you made the decision
        appealed or are in it. Upholding overturns the strike (its measure lifts at once) or reopens the dismissed
        report."""
        service = AppealService(state.db, state.settings.config.moderation)
        return await service.decide(claims.user_id, appeal_id, data)

    @get("/queue/stats")
    async def queue_stats(self, state: State, days: Annotated[int, QueryParameter(ge=1, le=90)] = 7) -> ModerationStats:
        """The review queues over the last `days` UTC days: per queue what is open, past its SLA and the oldest
        item's age (now), and the items decided with the median time from filing to decision (in the window); the
        decisions by audit action (`report.warn`, `photo.reject`, `appeal.uphold`…); items filed and decided per
        day."""
        async with database.connection(state.db) as connection:
            return await figures(connection, days)

    @get("/users")
    async def users(
        self,
        state: State,
        q: Annotated[str, QueryParameter(min_length=1, max_length=200)],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> list[Account]:
        """Accounts whose email starts with ``q`` or whose first name is ``q`` (case aside), newest first, with the
        measures standing against each."""
        async with database.connection(state.db) as connection:
            rows = await connection.fetch(_ACCOUNTS, None, q.replace("%", "").replace("_", ""), limit)
        return [Account(**dict(row)) for row in rows]

    @get("/users/{user_id:uuid}")
    async def user(self, user_id: FromPath[uuid.UUID], state: State) -> AccountDetail:
        async with database.connection(state.db) as connection:
            row = await connection.fetchrow(_ACCOUNTS, user_id, None, 1)
            if row is None:
                raise NotFound("no such account")
            strikes = await connection.fetch(
                "SELECT id, measure, rule, note, until, created_at, overturned_at, confirmed_by FROM moderation_strikes"
                " WHERE user_id = $1 ORDER BY created_at DESC",
                user_id,
            )
            about = await connection.fetch(
                "SELECT id, reason, state, created_at FROM safety_reports WHERE reported = $1 ORDER BY created_at DESC"
                " LIMIT 50",
                user_id,
            )
            filed = await connection.fetchval("SELECT count(*) FROM safety_reports WHERE reporter = $1", user_id)
        return AccountDetail(
            **dict(row),
            strikes=[dict(strike) for strike in strikes],
            reports_about=[dict(report) for report in about],
            reports_filed=filed,
        )

    @post("/users/{user_id:uuid}/actions", status_code=HTTP_200_OK)
    async def act(
        self, user_id: FromPath[uuid.UUID], data: JSONBody[AccountAction], decisions: Decisions, claims: Caller
    ) -> Acted:
        """Act on an account on your own initiative (no report): `warn`, `restrict`, `suspend` (with `until`) or
        `ban` — each a strike with a statement of reasons saying it came from our own initiative — `lift` (end
        the measures standing) or `revoke-sessions` (sign out everywhere). 403 on your own account."""
        return await decisions.act(claims.user_id, user_id, data)

    @post("/strikes/{strike_id:uuid}/confirm", status_code=HTTP_204_NO_CONTENT)
    async def confirm(self, strike_id: FromPath[uuid.UUID], decisions: Decisions, claims: Caller) -> None:
        """Confirm another moderator's ban, making it permanent (403 for the moderator who banned)."""
        await decisions.confirm_ban(claims.user_id, strike_id)
