"""Notification bodies (api.md, Notifications and the ``notification`` WebSocket event)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from server.web.schemas import Camel

Kind = Literal["match", "message", "like", "moderation"]


class NotificationData(Camel):
    """Ids only: what a notification is about is fetched from its own endpoint, so no message text is kept here."""

    #: the other person of the match, or who superliked (none for a moderation decision)
    other_user_id: uuid.UUID | None = None
    #: the match it is about (none for a like: there is no match yet)
    match_id: uuid.UUID | None = None
    #: for kind message, the waiting message counted last; the worker handles a burst's events side by side, so
    #: that is not always the one sent last (the event carries nothing of the messages' order)
    message_id: uuid.UUID | None = None
    #: for kind moderation, the decision whose statement of reasons GET /api/safety/decisions shows
    strike_id: uuid.UUID | None = None
    #: for kind moderation, a report of yours that was decided: its outcome (`actioned`: we acted on it, never
    #: saying how; `dismissed`: we found no breach) and whether you may appeal that (once, within six months, with
    #: POST /api/safety/appeals and this reportId)
    report_id: uuid.UUID | None = None
    outcome: Literal["actioned", "dismissed"] | None = None
    appealable: bool | None = None


class Notification(Camel):
    id: uuid.UUID
    kind: Kind
    data: NotificationData
    #: how many messages it tells of, for kind message
    count: int | None
    #: when the latest thing it tells of happened: a further waiting message moves it up the list
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationList(Camel):
    items: list[Notification]
    next_cursor: str | None
