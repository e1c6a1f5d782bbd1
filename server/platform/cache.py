"""Valkey clients: caches, rate limits, presence and the job streams use this one client; real-time fan-out
goes through ``server.platform.pubsub`` over it. What Valkey holds can be rebuilt."""

from __future__ import annotations

import asyncio

from valkey.asyncio import ConnectionPool, Valkey

from server.settings import Settings

#: connections one process's client may hold (a fifth of Valkey's maxclients); past that a command fails at once, as if Valkey were unreachable
#: (ValkeyError), which every caller already handles. Without a bound, a burst of 20,000 sockets opening at once
#: grew the pool to Valkey's maxclients and kept it there, refusing everyone, operators included. A pool that
#: waits for a free connection instead would be worse: its release takes a lock, so a task cancelled there
#: never gives its connection back, and enough of those leave every caller waiting for ever.
POOL_SIZE = 2000


def client_for(settings: Settings) -> Valkey:
    pool = ConnectionPool.from_url(
        settings.valkey_url(),
        max_connections=POOL_SIZE,
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
