"""Valkey clients: caches, rate limits, presence and the job streams use this one client; real-time fan-out
goes through ``server.platform.pubsub`` over it. What Valkey holds can be rebuilt."""

from __future__ import annotations

import asyncio

from valkey.asyncio import BlockingConnectionPool, Valkey

from server.settings import Settings

#: connections one process's client may hold; more callers than that wait for one (at most POOL_WAIT_SECONDS).
#: Without a bound, a burst of 20,000 sockets opening at once would open thousands of connections and keep
#: them, until Valkey's maxclients refused everyone, operators included.
POOL_SIZE = 100
POOL_WAIT_SECONDS = 5


def client_for(settings: Settings) -> Valkey:
    pool = BlockingConnectionPool.from_url(
        settings.valkey_url(),
        max_connections=POOL_SIZE,
        timeout=POOL_WAIT_SECONDS,
        password=settings.secrets.valkey.password,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=30,
    )
    return Valkey(connection_pool=pool)


async def ping(client: Valkey, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        await client.ping()
