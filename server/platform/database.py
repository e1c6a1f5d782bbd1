"""Postgres through Piccolo's engine: one pool per process, opened in the lifespan."""

from __future__ import annotations

import asyncio

from piccolo.engine.postgres import PostgresEngine

from server.settings import Settings


def engine_for(settings: Settings) -> PostgresEngine:
    return PostgresEngine(config=settings.postgres_connection())


async def open_pool(engine: PostgresEngine, *, max_size: int = 10) -> None:
    """Start the pool and prove it with one query, so a missing database fails start-up."""
    await engine.start_connection_pool(min_size=1, max_size=max_size, command_timeout=30)
    await ping(engine)


async def close_pool(engine: PostgresEngine) -> None:
    if engine.pool is not None:
        await engine.close_connection_pool()


async def ping(engine: PostgresEngine, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        async with engine.pool.acquire() as connection:
            await connection.fetchval("SELECT 1")
