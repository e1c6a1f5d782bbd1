"""What every push provider client takes and answers, and the HTTP habits they share.

A provider's ``send`` never raises for what the network or the provider does: each push gets an
``Outcome``, and the dispatcher decides from its verdict whether to record it sent, prune the device, try
again later or give up. Details are short and never carry a device token or a credential, since they are
stored with the delivery and shown to operators.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from server.settings import Settings

#: a provider that has not answered within this long is treated as down for this attempt
TIMEOUT = httpx.Timeout(10.0)
#: the longest Retry-After honoured: a longer one (a proxy's mistake, a date years off) would park a push past the
#: dispatcher's give-up time, or past what a date can hold, and the push is tried again after this instead
LONGEST_RETRY_AFTER = 3600.0


@dataclass(frozen=True)
class Push:
    """One notification for one device, as the providers are asked to deliver it."""

    #: the delivery's id, the same for every retry of this push (APNs's apns-id, and data's pushId)
    id: uuid.UUID
    token: str
    title: str
    body: str
    #: pushes that replace each other on the device share it (a conversation's burst)
    collapse_id: str
    #: pushes that are grouped together on the device share it
    thread_id: str
    badge: int | None
    #: small, string values only (FCM's data map allows nothing else)
    data: dict[str, str]


class Verdict(enum.StrEnum):
    SENT = "sent"
    #: the provider says the token is dead: the device is removed
    INVALID_TOKEN = "invalid_token"  # noqa: S105 (a verdict, not a credential)
    #: worth trying again later (provider down, throttled, network trouble)
    RETRY = "retry"
    #: the provider refused this push and would refuse it again
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    #: seconds to wait before trying again, when the provider said so (Retry-After)
    retry_after: float | None = None
    #: an id to ask about later (Expo's ticket id)
    receipt: str | None = None
    detail: str = ""


class Provider(Protocol):
    name: str
    #: the most pushes one ``send`` takes
    batch: int

    async def send(self, pushes: Sequence[Push]) -> list[Outcome]:
        """One outcome per push, in order; HTTP and transport failures are outcomes (RETRY), never raised."""

    async def aclose(self) -> None:
        """Close the provider's HTTP client."""


def http_client(settings: Settings, *, http2: bool = False, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """The one client a provider keeps: the system's CAs plus ``[push] ca_file`` (an outbound proxy's CA)."""
    context = ssl.create_default_context()
    if settings.config.push.ca_file:
        context.load_verify_locations(cafile=settings.config.push.ca_file)
    return httpx.AsyncClient(verify=context, http2=http2, timeout=TIMEOUT, headers=headers)


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (at most ``LONGEST_RETRY_AFTER``), given as seconds or as an HTTP date; None when
    absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return min(float(value), LONGEST_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return min(max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds()), LONGEST_RETRY_AFTER)


def transient(response: httpx.Response) -> bool:
    """Throttled or a server error: the same request may well succeed later."""
    return response.status_code == 429 or response.status_code >= 500


def later(response: httpx.Response, detail: str) -> Outcome:
    return Outcome(Verdict.RETRY, retry_after=retry_after(response), detail=f"{detail}: HTTP {response.status_code}")


def unreachable(exc: httpx.HTTPError, provider: str) -> Outcome:
    """A transport failure (refused, reset, timed out): the provider may never have seen the push."""
    return Outcome(Verdict.RETRY, detail=f"{provider} unreachable: {type(exc).__name__}")


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or an empty one when it is not JSON (a proxy's error page)."""
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, cut on a character boundary (APNs counts its ids in bytes)."""
    return text.encode()[:limit].decode(errors="ignore")
