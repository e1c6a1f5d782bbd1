"""Operator actions on accounts, run on the host through ``python -m server.manage``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from server.auth import passwords
from server.auth.roles import Role
from server.auth.service import AuthService, issue_email_token, normalise_email
from server.auth.tables import Session, User
from server.matching import candidates
from server.settings import Settings

ROLES = [role.value for role in Role]


async def create_admin(settings: Settings, service: AuthService, email: str) -> dict[str, Any]:
    """Make (or promote) an admin and return a one-time link to set the password; no password is ever typed."""
    email = normalise_email(email)
    row = await User.select(User.id).where(User.email == email).first()
    if row is None:
        # The account is usable only after the link sets a real password.
        unusable = await passwords.unusable_hash()
        user_id = uuid.uuid4()
        await User.insert(
            User(
                id=user_id,
                email=email,
                password_hash=unusable,
                first_name="Admin",
                role=Role.ADMIN,
                email_verified_at=dt.datetime.now(dt.UTC),
                created_at=dt.datetime.now(dt.UTC),
            )
        )
        created = True
    else:
        user_id, created = row["id"], False
        await set_role(service, email, Role.ADMIN)
    token = await issue_email_token(user_id, "reset")
    # The operator opens it in a browser: always the web page, never the app's deep link.
    link = settings.page_link(f"reset-password?token={token}")
    return {"email": email, "created": created, "token": token, "link": link}


async def set_role(service: AuthService, email: str, role: str) -> dict[str, Any]:
    """Change a role and end the account's logins, so no token keeps the old one."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    email = normalise_email(email)
    row = await User.select(User.id, User.role).where(User.email == email).first()
    if row is None:
        raise LookupError(f"no account with the email {email}")
    async with service.db.transaction():
        await User.update({User.role: role}).where(User.id == row["id"])
        # Staff are in no deck; a member again is.
        await candidates.refresh(row["id"])
    ended = await Session.count().where((Session.user == row["id"]) & Session.revoked_at.is_null())
    await service.end_all_sessions(row["id"])
    return {"email": email, "role": role, "previous": row["role"], "sessionsEnded": ended}
