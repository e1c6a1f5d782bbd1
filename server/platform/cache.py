"""Valkey clients: caches, rate limits, presence and the job streams use this one client; real-time fan-out
goes through ``server.platform.pubsub`` over it. What Valkey holds can be rebuilt."""

from __future__ import annotations

import asyncio

from valkey.asyncio import Valkey

from server.settings import Settings


def client_for(settings: Settings) -> Valkey:
    client: Valkey = Valkey.from_url(
        settings.valkey_url(),
        password=settings.secrets.valkey.password,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=30,
    )
    return client


async def ping(client: Valkey, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        await client.ping()
