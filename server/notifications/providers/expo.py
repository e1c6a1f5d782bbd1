"""Expo's push API: batches of up to 100 messages, one ticket back for each, receipts asked for later.

A ticket only says Expo took the message; whether Apple or Google then took it is in the receipt, which is
where a device uninstalled since shows up as DeviceNotRegistered. Expo has no idempotency key, so a batch
whose answer is lost is sent again whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from server.notifications.providers.base import (
    Outcome,
    Push,
    Verdict,
    http_client,
    json_object,
    later,
    transient,
    unreachable,
)
from server.settings import Settings

#: Expo's limits: messages per send, ids per getReceipts
SEND_LIMIT = 100
RECEIPTS_LIMIT = 1000
#: ticket and receipt errors that a later try may get past
_TRANSIENT = {"MessageRateExceeded"}


class Expo:
    name = "expo"
    batch = SEND_LIMIT

    def __init__(self, settings: Settings) -> None:
        self.url = settings.config.push.expo_url.rstrip("/")
        self.client = http_client(
            settings,
            headers={
                "Authorization": f"Bearer {settings.secrets.push.expo_access_token}",
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
            },
        )

    async def send(self, pushes: Sequence[Push]) -> list[Outcome]:
        try:
            response = await self.client.post(f"{self.url}/send", json=[message(push) for push in pushes])
        except httpx.HTTPError as exc:
            return [unreachable(exc, self.name)] * len(pushes)
        if transient(response):
            return [later(response, "expo")] * len(pushes)
        if response.status_code != 200:
            return [Outcome(Verdict.FAILED, detail=_request_error(response))] * len(pushes)
        tickets = json_object(response).get("data")
        if not isinstance(tickets, list) or len(tickets) != len(pushes):
            return [Outcome(Verdict.RETRY, detail="expo answered without a ticket per message")] * len(pushes)
        return [ticket_outcome(ticket) for ticket in tickets]

    async def receipts(self, ids: Sequence[str]) -> dict[str, Outcome]:
        """What became of the messages behind these tickets; an id left out has no receipt yet."""
        found: dict[str, Outcome] = {}
        for start in range(0, len(ids), RECEIPTS_LIMIT):
            try:
                response = await self.client.post(
                    f"{self.url}/getReceipts", json={"ids": list(ids[start : start + RECEIPTS_LIMIT])}
                )
            except httpx.HTTPError:
                return found  # asked again later, like a receipt not ready yet
            if response.status_code != 200:
                return found
            receipts = json_object(response).get("data")
            if isinstance(receipts, dict):
                found.update(
                    (ticket, receipt_outcome(receipt))
                    for ticket, receipt in receipts.items()
                    if isinstance(receipt, dict)
                )
        return found

    async def aclose(self) -> None:
        await self.client.aclose()


def message(push: Push) -> dict[str, Any]:
    """Expo's message for one push: collapseId replaces in transit (and on iOS on screen), tag replaces on
    Android's screen, threadId groups on iOS."""
    body: dict[str, Any] = {
        "to": push.token,
        "title": push.title,
        "body": push.body,
        "data": push.data | {"pushId": str(push.id)},
        "sound": "default",
        "priority": "high",
        "collapseId": push.collapse_id,
        "tag": push.collapse_id,
        "threadId": push.thread_id,
    }
    if push.badge is not None:
        body["badge"] = push.badge
    return body


def ticket_outcome(ticket: Any) -> Outcome:
    if not isinstance(ticket, dict):
        return Outcome(Verdict.RETRY, detail="expo sent an unreadable ticket")
    if ticket.get("status") == "ok":
        return Outcome(Verdict.SENT, receipt=ticket.get("id"))
    return _error(ticket)


def receipt_outcome(receipt: dict[str, Any]) -> Outcome:
    if receipt.get("status") == "ok":
        return Outcome(Verdict.SENT)
    outcome = _error(receipt)
    # A receipt is final: a message Expo could not pass on then is not retried through the same ticket.
    return outcome if outcome.verdict is Verdict.INVALID_TOKEN else Outcome(Verdict.FAILED, detail=outcome.detail)


def _error(answer: dict[str, Any]) -> Outcome:
    details = answer.get("details")
    code = details.get("error", "") if isinstance(details, dict) else ""
    detail = f"expo: {code or 'error'}"
    if code == "DeviceNotRegistered":
        return Outcome(Verdict.INVALID_TOKEN, detail=detail)
    if code in _TRANSIENT:
        return Outcome(Verdict.RETRY, detail=detail)
    return Outcome(Verdict.FAILED, detail=detail)


def _request_error(response: httpx.Response) -> str:
    """The whole request refused (bad credentials, too many messages): Expo's first error code."""
    errors = json_object(response).get("errors")
    code = errors[0].get("code", "") if isinstance(errors, list) and errors and isinstance(errors[0], dict) else ""
    return f"expo refused the request: HTTP {response.status_code} {code}".rstrip()
