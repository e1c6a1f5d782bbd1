"""What the accounts domain keeps about a person, for export and erasure."""

from __future__ import annotations

import uuid
from typing import Any

from server.auth.tables import EmailToken, RefreshToken, Session, User
from server.privacy.registry import DomainData


async def export(user_id: uuid.UUID) -> dict[str, Any]:
    account = await User.select(*User.all_columns(exclude=[User.password_hash])).where(User.id == user_id).first()
    sessions = await Session.select(
        Session.id, Session.device, Session.created_at, Session.last_seen_at, Session.revoked_at
    ).where(Session.user == user_id)
    days = await User.raw("SELECT day FROM auth_active_days WHERE user_id = {} ORDER BY day", user_id)
    return {"account": account, "sessions": sessions, "activeDays": [row["day"] for row in days]}


async def erase(user_id: uuid.UUID) -> None:
    # Sessions, refresh tokens, email tokens and active days go with the account (ON DELETE CASCADE).
    await User.delete().where(User.id == user_id)


PRIVACY = DomainData(
    name="account",
    tables=(
        User._meta.tablename,
        Session._meta.tablename,
        RefreshToken._meta.tablename,
        EmailToken._meta.tablename,
        "auth_active_days",
    ),
    export=export,
    erase=erase,
    last=True,
)
