"""``/api/safety/blocks``: blocking someone, the people the caller blocked, and unblocking."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from server.matching.service import MatchService
from server.moderation.appeals import Appeal, AppealDraft, AppealService, CodedAppeal, Decision
from server.safety.reports import Filed, ReportDraft, ReportService
from server.safety.schemas import Block, BlockList, BlockRequest
from server.safety.service import BlockService
from server.web.auth import Caller
from server.web.pagination import Paging, paging


def block_service(state: State, matches: NamedDependency[MatchService]) -> BlockService:
    return BlockService(state.db, matches)


Blocks = NamedDependency[BlockService]


class BlockController(Controller):
    path = "/api/safety/blocks"
    tags = ["safety"]
    dependencies = {"blocks": Provide(block_service, sync_to_thread=False)}

    @post("/")
    async def block(self, data: JSONBody[BlockRequest], blocks: Blocks, claims: Caller) -> Response[Block]:
        """Block someone: neither of the two is shown to the other anywhere any more (deck, profile, matches,
        conversations, notifications), and a match between them ends as if the caller had unmatched. The blocked
        person is told nothing. 201 the first time, 200 with the same block again; 422 for the caller
        themselves, 404 for anyone unknown."""
        block, new = await blocks.block(claims.user_id, data.user_id)
        return Response(block, status_code=HTTP_201_CREATED if new else HTTP_200_OK)

    @get("/", dependencies=paging())
    async def blocks(self, blocks: Blocks, claims: Caller, page: Paging) -> BlockList:
        """The people the caller blocked, most recent first, each with their first name and when."""
        return await blocks.blocks(claims.user_id, page)

    @delete("/{user_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def unblock(self, user_id: FromPath[uuid.UUID], blocks: Blocks, claims: Caller) -> None:
        """Lift a block (404 if the caller has not blocked this person). A match the block ended stays ended."""
        await blocks.unblock(claims.user_id, user_id)


def report_service(state: State, matches: NamedDependency[MatchService]) -> ReportService:
    return ReportService(state.db, state.storage, state.settings.config.moderation, BlockService(state.db, matches))


class ReportController(Controller):
    path = "/api/safety/reports"
    tags = ["safety"]
    dependencies = {"reports": Provide(report_service, sync_to_thread=False)}

    @post("/", status_code=HTTP_201_CREATED)
    async def report(
        self, data: JSONBody[ReportDraft], reports: NamedDependency[ReportService], claims: Caller
    ) -> Filed:
        """Report someone: the reason (minor-safety and threat are worked first), what happened in your words, and
        optionally one of their messages to you or one of their photos. Their profile, photos and your recent
        conversation are kept with the report as they are now, so nothing they delete later is lost to the
        moderators; a conversation's messages and photos can be reported until 90 days after an unmatch.
        Reporting also blocks them unless `block` is false. 404 for anyone unknown, or a message or photo that
        is not theirs; 422 for yourself; 429 past `[moderation] reports_per_hour`."""
        return await reports.file(claims.user_id, data)


def appeal_service(state: State) -> AppealService:
    return AppealService(state.db, state.settings.config.moderation)


Appeals = NamedDependency[AppealService]


class DecisionController(Controller):
    path = "/api/safety"
    tags = ["safety"]
    dependencies = {"appeals": Provide(appeal_service, sync_to_thread=False)}

    @get("/decisions")
    async def decisions(self, appeals: Appeals, claims: Caller) -> list[Decision]:
        """Moderation decisions about the caller, newest first, each with the statement of reasons they were sent
        and the appeal they made, if any."""
        return await appeals.decisions(claims.user_id)

    @post("/appeals", status_code=HTTP_201_CREATED)
    async def appeal(self, data: JSONBody[AppealDraft], appeals: Appeals, claims: Caller) -> Appeal:
        """Appeal a decision once, within six months: a strike against you (`strikeId`), or the dismissal of a
        report you filed (`reportId`). A moderator who did not make the decision reviews it. 404 for a decision that
        is not yours, 409 when it was appealed already, 403 once the six months have passed."""
        return await appeals.appeal(claims.user_id, data)

    @post("/appeals/by-code", status_code=HTTP_201_CREATED)
    async def appeal_by_code(self, data: JSONBody[CodedAppeal], appeals: Appeals, state: State) -> Appeal:
        """Appeal without signing in, for a suspended or banned person who cannot: the appeal code from the
        statement-of-reasons email names the decision. The same rules hold (once, within six months). 422 for a
        code this server did not make."""
        return await appeals.appeal_by_code(state.settings, data)
