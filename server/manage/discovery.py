"""Discovery bench verbs: seed synthetic people, time the deck on them, sign some in, purge them all."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from server.settings import Settings

if TYPE_CHECKING:
    import asyncpg


async def seed(settings: Settings, count: int) -> dict[str, Any]:
    """Seed people until ``count`` are there; a population from an earlier run is kept and topped up."""
    from server.auth import passwords
    from server.matching import seed as seeding
    from server.platform import database

    async with database.connection(database.engine()) as connection:
        existing = await seeding.count_seeded(connection)
        added = {"people": 0, "copySeconds": 0.0, "seconds": 0.0}
        if count > existing:
            unusable = await passwords.unusable_hash()
            added = await seeding.seed(connection, count - existing, settings.config.location.grid_km, unusable)
    return {"requested": count, "existing": existing, "seeded": added}


async def decks(settings: Settings, count: int, explain: bool, compare_geo: bool) -> dict[str, Any]:
    """Sizes, the deck's latency at the query for ``count`` random seeded people, and optionally its plan
    and the naive radius query for the same people."""
    from server.matching import bench
    from server.platform import database

    async with database.connection(database.engine()) as connection:
        people = await bench.callers(connection, count)
        if not people:
            raise LookupError("no seeded people: run `harvestctl bench discovery` without --purge first")
        result: dict[str, Any] = {
            "sizes": await bench.sizes(connection),
            "deck": await bench.time_decks(connection, people),
        }
    # As many decks in flight as the machine has cores, twice over: what Postgres sustains on all of them.
    result["deckAtOnce"] = await bench.decks_at_once(database.engine(), people, 2 * (os.cpu_count() or 1))
    async with database.connection(database.engine()) as connection:
        if explain:
            result["explain"] = await bench.explain(connection, people[0])
        if compare_geo:
            superuser = await _superuser(settings)
            try:
                result["naive"] = await bench.compare_geo(connection, superuser, people)
            finally:
                await superuser.close()
    return result


async def _superuser(settings: Settings) -> asyncpg.Connection:
    """The database's superuser, as root reaches it on this host (peer authentication over the socket)."""
    import asyncpg

    pg = settings.config.postgres
    return await asyncpg.connect(
        host=settings.layout.postgres_socket_dir, port=pg.port, user="postgres", database=pg.database
    )


async def logins(settings: Settings, count: int) -> dict[str, Any]:
    from server.manage.accounts import _auth_service
    from server.matching import bench
    from server.platform import database

    async with _auth_service(settings) as service, database.connection(database.engine()) as connection:
        return await bench.logins(service, connection, count)


async def purge(settings: Settings) -> dict[str, Any]:
    from server.manage.accounts import _auth_service
    from server.matching import seed as seeding
    from server.platform import database

    async with _auth_service(settings) as service, database.connection(database.engine()) as connection:
        return await seeding.purge(connection, service)
