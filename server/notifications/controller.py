"""``/api/notifications``: the caller's in-app notifications, and marking one read."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from server.notifications.devices import Device, DeviceRegistration
from server.notifications.preferences import Preferences, PreferencesChange
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

    @get("/preferences")
    async def preferences(self, notifications: Notifications, claims: Caller) -> Preferences:
        """Per kind (match, message, like): `immediate` (pushed to the caller's devices), `digest` (gathered into
        an email sent some time after the first) or `off` (only listed here); whether message pushes show what
        the message says; quiet hours, read in the profile's time zone, during which pushes wait, not drop."""
        return await notifications.preferences(claims.user_id)

    @put("/preferences")
    async def change_preferences(
        self, data: JSONBody[PreferencesChange], notifications: Notifications, claims: Caller
    ) -> Preferences:
        """Change what is given and keep the rest. Pushes held by quiet hours are re-read at once: ending quiet
        hours releases them, turning a kind off drops them."""
        return await notifications.change_preferences(claims.user_id, data)

    @put("/{notification_id:uuid}/read", status_code=HTTP_204_NO_CONTENT)
    async def read(self, notification_id: FromPath[uuid.UUID], notifications: Notifications, claims: Caller) -> None:
        """Mark one of the caller's notifications read; marking it again changes nothing. 404 for anyone else's.
        Once a conversation's notification is read, its next waiting message starts a new one."""
        await notifications.read(claims.user_id, notification_id)


class DeviceController(Controller):
    path = "/api/users/devices"
    tags = ["notifications"]

    @post("/")
    async def register(
        self, data: JSONBody[DeviceRegistration], notifications: Notifications, claims: Caller
    ) -> Response[Device]:
        """Register this login's push token: 201 the first time, 200 with the same device when it is registered
        again. A token registered by another account moves here. The device is removed when this login ends
        (logout, a password change) and when its provider reports the token gone."""
        device, new = await notifications.register_device(claims.user_id, claims.session_id, data)
        return Response(device, status_code=HTTP_201_CREATED if new else HTTP_200_OK)

    @delete("/{device_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def remove(self, device_id: FromPath[uuid.UUID], notifications: Notifications, claims: Caller) -> None:
        """Stop pushing to one of the caller's devices; 404 for anyone else's. What it was still owed is dropped."""
        await notifications.remove_device(claims.user_id, device_id)
