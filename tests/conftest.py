"""Fixtures: one real stack per session, a clean slate per test, and an API client on top."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar.testing import AsyncTestClient
from valkey.asyncio import Valkey

from server.platform import cache

from tests.services import Stack, running_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with running_stack() as started:
        # The server reads its settings from the root, as it does on an appliance.
        os.environ["HARVEST_ROOT"] = str(started.root)
        yield started


@pytest.fixture(scope="session")
async def app_client(stack: Stack) -> AsyncIterator[AsyncTestClient]:
    from server.app import create_app

    async with AsyncTestClient(app=create_app()) as client:
        yield client


@pytest.fixture
async def valkey(stack: Stack) -> AsyncIterator[Valkey]:
    """A Valkey client on the test's own loop (the app runs on the test client's)."""
    client = cache.client_for(stack.settings)
    yield client
    await client.aclose()


@pytest.fixture
async def client(app_client: AsyncTestClient, valkey: Valkey) -> AsyncIterator[AsyncTestClient]:
    """The API client, with every store emptied after the test."""
    yield app_client
    await valkey.flushdb()
