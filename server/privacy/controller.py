"""``DELETE /api/users/profile`` (erasure) and ``GET /api/users/export`` (access)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get
from litestar.datastructures import State
from litestar.params import JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from server.privacy import registry
from server.web.auth import Auth, Caller


class EraseRequest(msgspec.Struct, kw_only=True):
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class PrivacyController(Controller):
    path = "/api/users"
    tags = ["users"]

    @delete("/profile", status_code=HTTP_204_NO_CONTENT)
    async def erase(self, data: JSONBody[EraseRequest], auth: Auth, claims: Caller, state: State) -> None:
        """Erase the caller's account and everything every domain holds about them. Irreversible."""
        await auth.confirm_password(claims, data.password)
        await auth.end_all_sessions(claims.user_id)
        await registry.erase(state.db, claims.user_id)

    @get("/export")
    async def export(self, claims: Caller) -> dict[str, Any]:
        """Everything Harvest holds about the caller, by domain."""
        return {"exportedAt": dt.datetime.now(dt.UTC), "data": await registry.export(claims.user_id)}
