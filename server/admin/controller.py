"""``/api/admin``: what staff see. Moderation queues and user actions join this controller later."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.datastructures import State

from server.auth.roles import Role
from server.platform.jobs import DeadLetters
from server.web.auth import Auth, requires_role


class AdminController(Controller):
    path = "/api/admin"
    tags = ["admin"]
    guards = [requires_role(Role.MODERATOR, Role.ADMIN)]

    @get("/stats")
    async def stats(self, auth: Auth, state: State) -> dict[str, Any]:
        """Headline numbers for the staff dashboard."""
        return await auth.stats() | {"deadLetterJobs": await DeadLetters(state.valkey).count()}
