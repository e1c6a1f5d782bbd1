"""Postgres through Piccolo's engine: one pool per process, opened in the lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

from server.settings import Settings


def engine_for(settings: Settings) -> PostgresEngine:
    return PostgresEngine(config=settings.postgres_connection())


def engine() -> PostgresEngine:
    """The process's engine, the one ``piccolo_conf.py`` names (and tables use)."""
    found = engine_finder()
    if not isinstance(found, PostgresEngine):
        raise RuntimeError("piccolo_conf.py names no Postgres engine")
    return found


async def _keep_session(_: asyncpg.Connection) -> None:
    """Nothing to undo when a connection goes back to the pool: Harvest keeps no session state (no SET, LISTEN,
    cursors or session advisory locks; its locks are transaction-scoped), and asyncpg still rolls back a
    transaction left open. The default reset is one more round trip after every query Piccolo runs."""


async def open_pool(engine: PostgresEngine, *, max_size: int = 10) -> None:
    """Start the pool and prove it with one query, so a missing database fails start-up."""
    await engine.start_connection_pool(min_size=1, max_size=max_size, command_timeout=30, reset=_keep_session)
    await ping(engine)


async def close_pool(engine: PostgresEngine) -> None:
    if engine.pool is not None:
        await engine.close_connection_pool()


async def ping(engine: PostgresEngine, timeout: float = 2.0) -> None:
    if engine.pool is None:
        raise RuntimeError("the database pool is not open")
    async with asyncio.timeout(timeout):
        async with engine.pool.acquire() as connection:
            await connection.fetchval("SELECT 1")


@asynccontextmanager
async def connection(engine: PostgresEngine) -> AsyncIterator[asyncpg.Connection]:
    """The connection of the Piccolo transaction under way, else one from the pool: for the queries Piccolo's
    builder cannot write (one numbered parameter used in several places, lateral joins, arrays)."""
    transaction = engine.current_transaction.get()
    if transaction is not None:
        yield transaction.connection
        return
    if engine.pool is None:
        raise RuntimeError("the database pool is not open")
    async with engine.pool.acquire() as pooled:
        yield pooled
