"""Deck, swipe and match bodies, as api.md fixes them (Matching)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from server.profiles.schemas import PublicProfile
from server.web.schemas import Camel

Action = Literal["like", "pass", "superlike"]


class DeckCard(PublicProfile):
    """A person in the deck: their public profile, and the interests the caller shares with them."""

    shared_interests: list[str]


class Deck(Camel):
    items: list[DeckCard]
    next_cursor: str | None


class SwipeRequest(Camel, forbid_unknown_fields=True):
    user_id: uuid.UUID
    #: superlike counts towards both the daily likes and the daily superlikes
    action: Action


class MatchView(Camel):
    id: uuid.UUID
    #: the other person
    user: PublicProfile
    created_at: dt.datetime


class SwipeResult(Camel):
    matched: bool
    #: the match, when this swipe made one (or, repeated, made one before and it still stands)
    match: MatchView | None


class MatchList(Camel):
    items: list[MatchView]
    next_cursor: str | None


class UnmatchRequest(Camel, forbid_unknown_fields=True):
    match_id: uuid.UUID
