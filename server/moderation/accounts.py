"""``/api/admin/users/{userId}`` routes for an account as a whole: an admin's export and erasure of someone's data
(both audited), and the open verification request a moderator approves from ``harvestctl users verify``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Controller, delete, get
from litestar.datastructures import CacheControlHeader, State
from litestar.params import FromPath
from litestar.status_codes import HTTP_204_NO_CONTENT

from server.auth.roles import Role
from server.errors import Forbidden, NotFound
from server.moderation import audit
from server.platform import database
from server.privacy import registry
from server.web.auth import Auth, Caller, requires_role
from server.web.schemas import Camel


class OpenVerification(Camel):
    #: the verification request, for ``POST /api/admin/verifications/{id}/decision``
    request_id: uuid.UUID
    #: its queue item, to claim before deciding
    item_id: uuid.UUID


class AccountDataController(Controller):
    path = "/api/admin/users"
    tags = ["admin"]
    guards = [requires_role(Role.ADMIN)]

    @get("/{user_id:uuid}/export", cache_control=CacheControlHeader(no_store=True))
    async def export(self, user_id: FromPath[uuid.UUID], state: State, claims: Caller) -> dict[str, Any]:
        """Everything Harvest holds about the account, by domain, as the person's own export has it; written to
        the audit log as `account.export`."""
        async with database.connection(state.db) as connection, connection.transaction():
            if not await connection.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", user_id):
                raise NotFound("no such account")
            await audit.record(connection, claims.user_id, "account.export", user_id, {})
        return {"exportedAt": dt.datetime.now(dt.UTC), "data": await registry.export(user_id)}


class AccountVerificationController(Controller):
    path = "/api/admin/users"
    tags = ["moderation"]
    guards = [requires_role(Role.MODERATOR, Role.ADMIN)]

    @get("/{user_id:uuid}/verification")
    async def open_verification(self, user_id: FromPath[uuid.UUID], state: State) -> OpenVerification:
        """The account's verification request waiting for a moderator, with its queue item; 404 when there is
        none (never asked, no selfie sent yet, or already decided)."""
        async with database.connection(state.db) as connection:
            row = await connection.fetchrow(
                "SELECT v.id AS request_id, q.id AS item_id FROM moderation_verifications v"
                " JOIN moderation_queue q ON q.kind = 'verification' AND q.subject = v.id AND q.state = 'open'"
                " WHERE v.user_id = $1 AND v.state = 'open' ORDER BY v.submitted_at DESC LIMIT 1",
                user_id,
            )
        if row is None:
            raise NotFound("this account has no open verification request")
        return OpenVerification(**dict(row))


# A handler of its own, not a method of the controller above: ReviewController already answers GET on this path, and
# Litestar 2 refuses two controllers sharing a path (each brings its own OPTIONS handler).
@delete(
    "/api/admin/users/{user_id:uuid}",
    status_code=HTTP_204_NO_CONTENT,
    guards=[requires_role(Role.ADMIN)],
    tags=["admin"],
)
async def erase_account(user_id: FromPath[uuid.UUID], state: State, auth: Auth, claims: Caller) -> None:
    """Erase the account and everything every domain holds about it. Irreversible. 403 for your own account
    (erase it from the app) and for an admin's (demote them first)."""
    if user_id == claims.user_id:
        raise Forbidden("you cannot erase your own account from here; do it from the app")
    # Written first and committed on its own: the log keeps only a pseudonym, so it outlives the account, and
    # an erasure that fails half-way still shows who started it.
    async with database.connection(state.db) as connection, connection.transaction():
        role = await connection.fetchval("SELECT role FROM users WHERE id = $1 FOR UPDATE", user_id)
        if role is None:
            raise NotFound("no such account")
        if role == Role.ADMIN:
            raise Forbidden("admins cannot be erased; demote the account first")
        await audit.record(connection, claims.user_id, "account.erase", user_id, {})
    await auth.end_all_sessions(user_id)
    await registry.erase(state.db, state.valkey, user_id)
