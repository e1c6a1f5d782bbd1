"""``/api/admin/audit``: the audit log for staff, and a check that its chain is whole."""

from __future__ import annotations

import uuid

from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import FromQuery

from server.auth.roles import Role
from server.moderation import audit
from server.moderation.schemas import AuditEntryView, AuditPage, AuditVerification
from server.platform import database
from server.web.auth import requires_role
from server.web.pagination import Paging, paging


class AuditController(Controller):
    path = "/api/admin/audit"
    tags = ["admin"]
    guards = [requires_role(Role.MODERATOR, Role.ADMIN)]

    @get("/", dependencies=paging())
    async def entries(self, state: State, page: Paging, subject: FromQuery[uuid.UUID | None] = None) -> AuditPage:
        """Newest first. `?subject=<userId>` keeps the entries about that person: the log holds only their
        pseudonym, which the server computes from the id given."""
        before = page.after[0] if page.after else None
        who = audit.pseudonym(subject) if subject is not None else None
        async with database.connection(state.db) as connection:
            found = await audit.newest(connection, page.limit + 1, before=before, subject=who)
        items, next_cursor = page.split(found, lambda entry: [entry.seq])
        return AuditPage(items=[AuditEntryView.of(entry) for entry in items], next_cursor=next_cursor)

    @get("/verify")
    async def verify(self, state: State) -> AuditVerification:
        """Walk the whole chain: `ok`, how many entries were checked, and otherwise the first seq that was
        edited, deleted or moved (`brokenAt`) and why."""
        async with database.connection(state.db) as connection:
            return AuditVerification.of(await audit.verify(connection))
