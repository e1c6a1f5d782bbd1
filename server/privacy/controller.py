"""``GET /api/users/export`` (access). Erasure is ``DELETE /api/users/profile``, with the profile's handlers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, get
from litestar.datastructures import CacheControlHeader

from server.privacy import registry
from server.web.auth import Caller


class PrivacyController(Controller):
    path = "/api/users"
    tags = ["users"]

    @get("/export", cache_control=CacheControlHeader(no_store=True))
    async def export(self, claims: Caller) -> dict[str, Any]:
        """Everything Harvest holds about the caller, by domain."""
        return {"exportedAt": dt.datetime.now(dt.UTC), "data": await registry.export(claims.user_id)}
