"""Database verbs: migration status and applying pending migrations."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def with_engine(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` with the database pool open."""
    from server.platform import database

    engine = database.engine()
    # No command timeout: a migration may rewrite a large table.
    await engine.start_connection_pool(min_size=1, max_size=2)
    try:
        # Piccolo prints progress; keep stdout for the one JSON answer.
        with contextlib.redirect_stdout(sys.stderr):
            return await work()
    finally:
        await engine.close_connection_pool()


async def migrations_status() -> dict[str, Any]:
    from piccolo.apps.migrations.commands.check import CheckMigrationManager

    statuses = await CheckMigrationManager(app_name="all").get_migration_statuses()
    items = [
        {"app": s.app_name, "id": s.migration_id, "description": s.description, "applied": bool(s.has_ran)}
        for s in statuses
    ]
    return {"migrations": items, "pending": sum(not i["applied"] for i in items)}


async def migrate() -> dict[str, Any]:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    before = await migrations_status()
    result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}")
    after = await migrations_status()
    return {"applied": before["pending"] - after["pending"], "pending": after["pending"]}
