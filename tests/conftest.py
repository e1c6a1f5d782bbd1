"""Fixtures: one real stack per session, a clean slate per test, and an API client on top.

The app, its pools and the tests share one event loop, so a test can query the same database the
API writes to.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from litestar import Litestar
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey

from server.platform.storage import Storage
from tests.services import Stack, running_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with running_stack() as started:
        # The server reads its settings from the root, as it does on an appliance.
        os.environ["HARVEST_ROOT"] = str(started.root)
        subprocess.run([sys.executable, "-m", "server.manage", "migrate"], check=True, capture_output=True)
        yield started


@pytest.fixture(scope="session")
async def app(stack: Stack) -> AsyncIterator[Litestar]:
    from server.app import create_app

    application = create_app()
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        # Litestar's lifespan must be entered and left by one task; pytest tears fixtures down in another.
        async with application.lifespan():
            started.set()
            await stop.wait()

    lifespan = asyncio.create_task(serve())
    await asyncio.wait([lifespan, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if lifespan.done():
        lifespan.result()
    yield application
    stop.set()
    await lifespan


@pytest.fixture(scope="session")
async def app_client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def db(app: Litestar) -> AsyncIterator[PostgresEngine]:
    """The app's database engine, emptied after the test (the migrations' own table is kept)."""
    engine: PostgresEngine = app.state.db
    yield engine
    names = await engine.pool.fetchval(
        "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
        "WHERE schemaname = 'public' AND tablename <> 'migration'"
    )
    if names:
        await engine.pool.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
async def valkey(app: Litestar) -> AsyncIterator[Valkey]:
    """The app's Valkey client, flushed after the test."""
    client: Valkey = app.state.valkey
    yield client
    await client.flushdb()


@pytest.fixture
async def storage(app: Litestar) -> AsyncIterator[Storage]:
    """The app's object storage, emptied after the test."""
    store: Storage = app.state.storage
    yield store
    for purpose, bucket in store.buckets.items():
        names = [obj.object_name for obj in store.client.list_objects(bucket, recursive=True)]
        if names:
            await store.remove(purpose, names)


@pytest.fixture
async def client(
    app_client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey, storage: Storage
) -> httpx.AsyncClient:
    """The API client; every store is emptied after the test."""
    return app_client
