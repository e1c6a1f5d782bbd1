"""Account verbs: operator-made admins, role changes, and the bench's throwaway accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from server.auth.service import AuthService
from server.settings import Settings


@asynccontextmanager
async def _auth_service(settings: Settings) -> AsyncIterator[AuthService]:
    from server.auth.tokens import TokenIssuer
    from server.platform import cache, database

    valkey = cache.client_for(settings)
    try:
        yield AuthService(database.engine(), valkey, TokenIssuer(settings), settings.config.limits)
    finally:
        await valkey.aclose()


async def create_admin(settings: Settings, email: str) -> dict[str, Any]:
    from server.auth import admin

    async with _auth_service(settings) as service:
        return await admin.create_admin(settings, service, email)


async def set_role(settings: Settings, email: str, role: str) -> dict[str, Any]:
    from server.auth import admin

    async with _auth_service(settings) as service:
        return await admin.set_role(service, email, role)


async def bench_people(settings: Settings, count: int) -> dict[str, Any]:
    from server import bench

    async with _auth_service(settings) as service:
        return await bench.create_people(service, count)


async def bench_erase(settings: Settings) -> dict[str, Any]:
    from server import bench

    async with _auth_service(settings) as service:
        return await bench.erase_people(service)
