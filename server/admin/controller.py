"""``/api/admin``: what staff see at a glance. The review queue and actions are in ``server/moderation/review.py``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.datastructures import State

from server.auth.roles import Role
from server.platform import database
from server.platform.jobs import DeadLetters
from server.web.auth import Auth, requires_role


class AdminController(Controller):
    path = "/api/admin"
    tags = ["admin"]
    guards = [requires_role(Role.MODERATOR, Role.ADMIN)]

    @get("/stats")
    async def stats(self, auth: Auth, state: State) -> dict[str, Any]:
        """Headline numbers for the staff dashboard: accounts, dead letters, and the review queue's backlog by
        kind with how many items are past their SLA."""
        async with database.connection(state.db) as connection:
            rows = await connection.fetch(
                "SELECT kind, count(*) AS open, count(*) FILTER (WHERE due_at < now()) AS overdue"
                " FROM moderation_queue WHERE state = 'open' GROUP BY kind"
            )
        return await auth.stats() | {
            "deadLetterJobs": await DeadLetters(state.valkey).count(),
            "queue": {row["kind"]: {"open": row["open"], "overdue": row["overdue"]} for row in rows},
        }
