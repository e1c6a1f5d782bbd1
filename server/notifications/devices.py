"""Push devices: a token registered by a login, kept until that login ends, its owner removes it, or its provider
says it is gone.

A token is one phone's (or browser's) address at its provider, so it belongs to one account at a time: the
account that registered it last. Registering it again from that account changes nothing but the login it
follows; from another account, it leaves the first one, with anything still owed to it there.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Literal

import asyncpg
import msgspec

from server.errors import FieldError, Invalid, NotFound, Unauthorized
from server.web.schemas import Camel

Platform = Literal["ios", "android", "web"]
Provider = Literal["expo", "fcm", "apns"]

#: each provider's token shape, and the platforms it serves
_TOKENS: dict[str, tuple[re.Pattern[str], frozenset[str]]] = {
    "expo": (re.compile(r"Expo(nent)?PushToken\[[A-Za-z0-9_-]{1,200}\]"), frozenset({"ios", "android"})),
    "fcm": (re.compile(r"[A-Za-z0-9_:-]{20,4096}"), frozenset({"ios", "android", "web"})),
    "apns": (re.compile(r"[0-9a-fA-F]{64,200}"), frozenset({"ios"})),
}


class DeviceRegistration(Camel, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    platform: Platform
    provider: Provider


class Device(Camel):
    id: uuid.UUID
    platform: Platform
    provider: Provider
    created_at: dt.datetime


def check(registration: DeviceRegistration) -> None:
    pattern, platforms = _TOKENS[registration.provider]
    if not pattern.fullmatch(registration.token):
        raise Invalid(
            f"not a {registration.provider} push token", errors=[FieldError("token", "does not match the provider")]
        )
    if registration.platform not in platforms:
        raise Invalid(
            f"{registration.provider} does not deliver to {registration.platform}",
            errors=[FieldError("platform", f"one of {', '.join(sorted(platforms))} for this provider")],
        )


async def register(
    connection: asyncpg.Connection, user_id: uuid.UUID, session_id: uuid.UUID, registration: DeviceRegistration
) -> tuple[Device, bool]:
    """The device, and whether it is new to this account."""
    check(registration)
    async with connection.transaction():
        # Two accounts registering one token at once take turns, so it ends with one of them, whole.
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"device {registration.provider} {registration.token}",
        )
        # A login ending at this moment removes its devices in its own transaction; waiting for it here (FOR SHARE)
        # means a device is never added to a login that has just ended.
        live = await connection.fetchval(
            "SELECT 1 FROM auth_sessions WHERE id = $1 AND revoked_at IS NULL FOR SHARE", session_id
        )
        if live is None:
            raise Unauthorized("this login has ended; sign in again")
        # Taken from another account: deleted there (what it was owed goes with it), made anew here.
        await connection.execute(
            "DELETE FROM notification_devices WHERE provider = $1 AND token = $2 AND user_id <> $3",
            registration.provider,
            registration.token,
            user_id,
        )
        row = await connection.fetchrow(
            "INSERT INTO notification_devices (id, user_id, session_id, provider, platform, token)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (provider, token) DO UPDATE SET session_id = EXCLUDED.session_id,"
            " platform = EXCLUDED.platform"
            " RETURNING id, platform, provider, created_at, xmax = 0 AS inserted",
            uuid.uuid4(),
            user_id,
            session_id,
            registration.provider,
            registration.platform,
            registration.token,
        )
    return Device(id=row["id"], platform=row["platform"], provider=row["provider"], created_at=row["created_at"]), row[
        "inserted"
    ]


async def remove(connection: asyncpg.Connection, user_id: uuid.UUID, device_id: uuid.UUID) -> None:
    found = await connection.fetchval(
        "DELETE FROM notification_devices WHERE id = $1 AND user_id = $2 RETURNING id", device_id, user_id
    )
    if found is None:
        raise NotFound("no such device")
