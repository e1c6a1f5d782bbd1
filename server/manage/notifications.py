"""Notifications bench verbs: new-match events followed through the running workers to a loopback receiver,
and the removal of a run's people that did not finish."""

from __future__ import annotations

from typing import Any

from server.settings import Settings

#: events a run may publish: enough for a steady rate, few enough to seed and purge in seconds
MAX_EVENTS = 20_000


async def bench(settings: Settings, events: int, timeout: float) -> dict[str, Any]:
    from server.auth import passwords
    from server.manage.accounts import _auth_service
    from server.notifications import bench

    if not 2 <= events <= MAX_EVENTS:
        raise ValueError(f"events must be from 2 to {MAX_EVENTS:,}")
    unusable = await passwords.unusable_hash()
    async with _auth_service(settings) as service:
        return await bench.run(service, events, timeout, unusable)


async def purge(settings: Settings) -> dict[str, Any]:
    from server.manage.accounts import _auth_service
    from server.notifications import bench
    from server.platform import database

    async with _auth_service(settings) as service, database.connection(database.engine()) as connection:
        return await bench.purge(connection, service)
