"""``/api/matches``: the discovery deck, swipes, and the caller's matches."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from server.matching.deck import DeckService
from server.matching.schemas import Deck, MatchList, SwipeRequest, SwipeResult, UnmatchRequest
from server.matching.service import MatchService
from server.web.auth import Caller
from server.web.pagination import Paging, paging

Decks = NamedDependency[DeckService]
Matches = NamedDependency[MatchService]


class MatchingController(Controller):
    path = "/api/matches"
    tags = ["matching"]

    @get("/potential", dependencies=paging())
    async def potential(self, decks: Decks, claims: Caller, page: Paging) -> Deck:
        """The discovery deck: people who fit the caller's preferences and whose preferences the caller fits,
        best first, each with the distance between the two grid cells (whole km, at least 1) and the interests
        shared. A page never repeats a card of an earlier one. Without a cursor the deck is worked out afresh,
        leaving out whoever the caller was shown in the last hour. 409 until the caller has shared a location."""
        return await decks.page(claims.user_id, page)

    @post("/swipe", status_code=HTTP_200_OK)
    async def swipe(self, data: JSONBody[SwipeRequest], matches: Matches, claims: Caller) -> SwipeResult:
        """Like, pass or superlike someone from the deck. Repeating a swipe answers the same and counts once;
        changing it is refused (409). Likes and superlikes are limited per day in the caller's time zone: past
        the limit, 429 with `remaining` and `resetsAt` in the problem body."""
        return await matches.swipe(claims.user_id, data.user_id, data.action)

    @get("/my-matches", dependencies=paging())
    async def my_matches(self, matches: Matches, claims: Caller, page: Paging) -> MatchList:
        """The caller's matches that stand, newest first."""
        return await matches.matches(claims.user_id, page)

    @post("/unmatch", status_code=HTTP_204_NO_CONTENT)
    async def unmatch(self, data: JSONBody[UnmatchRequest], matches: Matches, claims: Caller) -> None:
        """End a match for both people: neither sees it again, and neither comes back in the other's deck."""
        await matches.unmatch(claims.user_id, data.match_id)
