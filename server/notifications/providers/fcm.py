"""Firebase Cloud Messaging HTTP v1: one request per message, authorised by an OAuth2 access token.

The token is minted from the service-account key (a signed RS256 JWT exchanged at the key's token_uri) and
reused until shortly before it expires; a 401 means Google stopped honouring it early, so it is dropped and
the message tried once more with a fresh one. FCM has no idempotency key either: a message whose answer is
lost is sent again.
"""

from __future__ import annotations

import asyncio
import json
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

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
#: a token is renewed this long before Google says it expires, so none is used as it runs out
RENEW_EARLY = 300.0
#: APNs's limit on apns-collapse-id, which FCM passes on for iOS devices
APNS_COLLAPSE_BYTES = 64
#: a mint that failed answers the sends queued behind it this long, rather than each trying (and timing out) anew
NO_TOKEN_SECONDS = 1.0


class NoToken(Exception):
    """No access token to be had: the token endpoint is down (retry) or refused the key (fails until fixed)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


class Fcm:
    name = "fcm"
    #: messages sent side by side (one request each) per send
    batch = 50

    def __init__(self, settings: Settings) -> None:
        account = json.loads(settings.secrets.push.fcm_service_account)
        self.project = account["project_id"]
        self.email = account["client_email"]
        self.key = account["private_key"]
        self.token_uri = account.get("token_uri") or "https://oauth2.googleapis.com/token"
        self.url = f"{settings.config.push.fcm_url.rstrip('/')}/v1/projects/{self.project}/messages:send"
        self.client = http_client(settings)
        self._token: str | None = None
        self._token_until = 0.0
        #: one mint at a time: the batch's concurrent sends all wait for the same token
        self._minting = asyncio.Lock()
        self._no_token = Outcome(Verdict.RETRY)
        self._no_token_until = 0.0

    async def send(self, pushes: Sequence[Push]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._send_one(push) for push in pushes)))

    async def _send_one(self, push: Push) -> Outcome:
        try:
            token = await self._access_token()
            response = await self._post(push, token)
            if response.status_code == 401:
                self._forget(token)
                response = await self._post(push, await self._access_token())
        except NoToken as exc:
            return exc.outcome
        except httpx.HTTPError as exc:
            return unreachable(exc, self.name)
        return outcome(response)

    async def _post(self, push: Push, token: str) -> httpx.Response:
        return await self.client.post(
            self.url, json={"message": message(push)}, headers={"Authorization": f"Bearer {token}"}
        )

    async def _access_token(self) -> str:
        async with self._minting:
            if self._token is None or time.monotonic() >= self._token_until:
                if time.monotonic() < self._no_token_until:
                    raise NoToken(self._no_token)
                try:
                    self._token, lifetime = await self._mint()
                except NoToken as exc:
                    self._no_token, self._no_token_until = exc.outcome, time.monotonic() + NO_TOKEN_SECONDS
                    raise
                self._token_until = time.monotonic() + max(lifetime - RENEW_EARLY, lifetime / 2)
            return self._token

    def _forget(self, token: str) -> None:
        # Only the token that was refused: another send may have minted a new one meanwhile.
        if self._token == token:
            self._token = None

    async def _mint(self) -> tuple[str, float]:
        now = int(time.time())
        assertion = jwt.encode(
            {"iss": self.email, "scope": SCOPE, "aud": self.token_uri, "iat": now, "exp": now + 3600},
            self.key,
            algorithm="RS256",
        )
        try:
            response = await self.client.post(
                self.token_uri,
                data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            )
        except httpx.HTTPError as exc:
            raise NoToken(unreachable(exc, "fcm token endpoint")) from exc
        if transient(response):
            raise NoToken(later(response, "fcm token endpoint"))
        answer = json_object(response)
        if response.status_code != 200 or not isinstance(answer.get("access_token"), str):
            why = answer.get("error", response.status_code)
            raise NoToken(Outcome(Verdict.FAILED, detail=f"fcm token endpoint refused the key: {why}"))
        return answer["access_token"], float(answer.get("expires_in", 3600))

    async def aclose(self) -> None:
        await self.client.aclose()


def message(push: Push) -> dict[str, Any]:
    """The v1 message: collapse_key coalesces in transit, tag replaces on Android's screen, and the APNs and
    Web Push blocks carry the same for iOS and browsers."""
    data = push.data | {"pushId": str(push.id)}
    android_notification: dict[str, Any] = {"tag": push.collapse_id, "sound": "default"}
    aps: dict[str, Any] = {"thread-id": push.thread_id, "sound": "default"}
    if push.badge is not None:
        android_notification["notification_count"] = push.badge
        aps["badge"] = push.badge
    return {
        "token": push.token,
        "notification": {"title": push.title, "body": push.body},
        "data": data,
        "android": {"collapse_key": push.collapse_id, "priority": "HIGH", "notification": android_notification},
        "apns": {
            "headers": {"apns-collapse-id": truncate(push.collapse_id, APNS_COLLAPSE_BYTES), "apns-priority": "10"},
            "payload": {"aps": aps},
        },
        "webpush": {"notification": {"tag": push.collapse_id, "renotify": True}},
    }


def outcome(response: httpx.Response) -> Outcome:
    """What an answer from messages:send means for the push."""
    if response.status_code == 200:
        return Outcome(Verdict.SENT)
    if transient(response):
        return later(response, "fcm")
    error = json_object(response).get("error")
    error = error if isinstance(error, dict) else {}
    status, code = str(error.get("status", "")), _fcm_error_code(error)
    detail = f"fcm: HTTP {response.status_code} {code or status}".rstrip()
    if code == "UNREGISTERED" or status == "UNREGISTERED" or response.status_code == 404:
        return Outcome(Verdict.INVALID_TOKEN, detail=detail)
    if (code or status) == "INVALID_ARGUMENT" and _about_token(error):
        return Outcome(Verdict.INVALID_TOKEN, detail=detail)
    return Outcome(Verdict.FAILED, detail=detail)


def _fcm_error_code(error: dict[str, Any]) -> str:
    """FcmError's errorCode from the details, which is more precise than the status."""
    for item in error.get("details") or []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("FcmError"):
            return str(item.get("errorCode", ""))
    return ""


def _about_token(error: dict[str, Any]) -> bool:
    """Whether an INVALID_ARGUMENT is about the registration token rather than the message we built."""
    for item in error.get("details") or []:
        for violation in item.get("fieldViolations", []) if isinstance(item, dict) else []:
            if isinstance(violation, dict) and str(violation.get("field", "")).endswith("token"):
                return True
    return "registration token" in str(error.get("message", "")).lower()
