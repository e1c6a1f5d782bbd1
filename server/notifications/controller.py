"""``/api/notifications``: the caller's in-app notifications, and marking one read."""

from __future__ import annotations

import uuid

from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.status_codes import HTTP_204_NO_CONTENT

from server.notifications.schemas import NotificationList
from server.notifications.service import NotificationService
from server.web.auth import Caller
from server.web.pagination import Paging, paging

Notifications = NamedDependency[NotificationService]


class NotificationController(Controller):
    path = "/api/notifications"
    tags = ["notifications"]

    @get("/", dependencies=paging())
    async def notifications(self, notifications: Notifications, claims: Caller, page: Paging) -> NotificationList:
        """Newest first, read or not: new matches, one per match, and waiting messages, one per conversation
        while unread with how many messages it counts (a further message moves it to the top). Ids only; the
        match and the messages are fetched from their own endpoints."""
        return await notifications.notifications(claims.user_id, page)

    @put("/{notification_id:uuid}/read", status_code=HTTP_204_NO_CONTENT)
    async def read(self, notification_id: FromPath[uuid.UUID], notifications: Notifications, claims: Caller) -> None:
        """Mark one of the caller's notifications read; marking it again changes nothing. 404 for anyone else's.
        Once a conversation's notification is read, its next waiting message starts a new one."""
        await notifications.read(claims.user_id, notification_id)
