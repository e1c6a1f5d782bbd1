"""Chat bench verbs: seed matched pairs with logins, check the clients' ledger against Postgres, purge them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.settings import Settings


async def seed(settings: Settings, pairs: int, idle: int) -> dict[str, Any]:
    from server.auth import passwords
    from server.chat import bench
    from server.manage.accounts import _auth_service
    from server.platform import database

    unusable = await passwords.unusable_hash()
    async with _auth_service(settings) as service, database.connection(database.engine()) as connection:
        return await bench.seed_people(connection, service, pairs, idle, unusable)


async def figures(ledger: list[Path]) -> dict[str, Any]:
    from server.chat import bench
    from server.platform import database

    async with database.connection(database.engine()) as connection:
        return await bench.figures(connection, ledger)


async def purge(settings: Settings) -> dict[str, Any]:
    from server.chat import bench
    from server.manage.accounts import _auth_service
    from server.platform import database

    async with _auth_service(settings) as service, database.connection(database.engine()) as connection:
        return await bench.purge(connection, service)
