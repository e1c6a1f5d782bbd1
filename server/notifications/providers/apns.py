"""Apple Push Notification service: HTTP/2 only, one stream per notification, token (ES256 JWT) auth.

The JWT is signed once and reused for most of its hour: Apple refuses tokens older than an hour and
answers TooManyProviderTokenUpdates to a team that re-signs more often than every 20 minutes. apns-id is
the delivery's id, so the same push retried carries the same id; Apple does not promise to drop duplicates
by it, but the id ties Apple's logs to ours.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx
import jwt

from server.notifications.providers.base import (
    Outcome,
    Push,
    Verdict,
    http_client,
    json_object,
    later,
    transient,
    truncate,
    unreachable,
)
from server.settings import Settings

#: a signed token is used this long, between Apple's 20-minute floor and its one-hour expiry
TOKEN_SECONDS = 50 * 60
COLLAPSE_ID_BYTES = 64
#: reasons that mean the token will never reach a device of this app again
_GONE = {"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic"}


class Apns:
    name = "apns"
    #: notifications sent side by side as streams of one connection
    batch = 50

    def __init__(self, settings: Settings) -> None:
        push = settings.config.push
        self.url = push.apns_url.rstrip("/")
        self.topic = push.apns_topic
        self.key_id = push.apns_key_id
        self.team_id = push.apns_team_id
        self.key = settings.secrets.push.apns_key
        #: Apple keeps a notification for an offline device this long; the dispatcher gives up then anyway
        self.keep_seconds = push.give_up_hours * 3600
        self.client = http_client(settings, http2=True)
        self._token: str | None = None
        self._signed_at = 0.0

    async def send(self, pushes: Sequence[Push]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._send_one(push) for push in pushes)))

    async def _send_one(self, push: Push) -> Outcome:
        token = self._bearer()
        try:
            response = await self.client.post(
                f"{self.url}/3/device/{push.token}",
                json=payload(push),
                headers={
                    "authorization": f"bearer {token}",
                    "apns-topic": self.topic,
                    "apns-push-type": "alert",
                    "apns-id": str(push.id),
                    "apns-collapse-id": truncate(push.collapse_id, COLLAPSE_ID_BYTES),
                    "apns-priority": "10",
                    "apns-expiration": str(int(time.time()) + self.keep_seconds),
                },
            )
        except httpx.HTTPError as exc:
            return unreachable(exc, self.name)
        answer = outcome(response)
        if answer.detail.endswith("ExpiredProviderToken"):
            self._forget(token)
            return Outcome(Verdict.RETRY, detail=answer.detail)
        return answer

    def _bearer(self) -> str:
        if self._token is None or time.monotonic() - self._signed_at >= TOKEN_SECONDS:
            self._token = jwt.encode(
                {"iss": self.team_id, "iat": int(time.time())},
                self.key,
                algorithm="ES256",
                headers={"kid": self.key_id},
            )
            self._signed_at = time.monotonic()
        return self._token

    def _forget(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def aclose(self) -> None:
        await self.client.aclose()


def payload(push: Push) -> dict[str, Any]:
    """The notification's JSON: Apple's aps dictionary, then the app's own keys beside it."""
    aps: dict[str, Any] = {
        "alert": {"title": push.title, "body": push.body},
        "thread-id": push.thread_id,
        "sound": "default",
    }
    if push.badge is not None:
        aps["badge"] = push.badge
    return {**push.data, "pushId": str(push.id), "aps": aps}


def outcome(response: httpx.Response) -> Outcome:
    """What Apple's answer means for the push; a refusal's reason is in the JSON body."""
    if response.status_code == 200:
        return Outcome(Verdict.SENT)
    if transient(response):
        return later(response, "apns")
    reason = str(json_object(response).get("reason", ""))
    detail = f"apns: HTTP {response.status_code} {reason}".rstrip()
    if response.status_code == 410 or reason in _GONE:
        return Outcome(Verdict.INVALID_TOKEN, detail=detail)
    return Outcome(Verdict.FAILED, detail=detail)
