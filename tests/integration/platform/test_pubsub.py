"""Pub/sub against real Valkey: one subscriber connection per process, fan-out to local subscribers,
reconnection after Valkey restarts."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from valkey.asyncio import Valkey
from valkey.exceptions import ConnectionError

from server.platform.pubsub import Message, MessagesLost, PubSub, Subscription
from tests.services import free_port


async def next_message(subscription: Subscription, timeout: float = 5.0) -> Message:
    async with asyncio.timeout(timeout):
        return await anext(subscription)


async def subscribers(valkey: Valkey, channel: str) -> int:
    [(_, count)] = await valkey.pubsub_numsub(channel)
    return int(count)


@pytest.fixture
async def pubsub(valkey: Valkey) -> AsyncIterator[PubSub]:
    hub = PubSub(valkey)
    yield hub
    await hub.close()


async def test_local_subscribers_share_one_valkey_subscription_and_each_get_every_message(pubsub: PubSub, valkey):
    # Other processes of the test session (API workers) may hold subscriber connections of their own.
    elsewhere = len(await valkey.client_list(_type="pubsub"))
    async with (
        pubsub.subscribe("user:1") as first,
        pubsub.subscribe("user:1") as second,
        pubsub.subscribe("user:2") as other,
    ):
        assert await subscribers(valkey, "user:1") == 1 and await subscribers(valkey, "user:2") == 1
        assert await pubsub.publish("user:1", "hello") == 1
        assert await next_message(first) == Message("user:1", "hello")
        assert await next_message(second) == Message("user:1", "hello")
        await pubsub.publish("user:2", "hi")
        assert await next_message(other) == Message("user:2", "hi")
        with pytest.raises(TimeoutError):
            await next_message(first, timeout=0.2)
        clients = await valkey.client_list(_type="pubsub")
        assert len(clients) == elsewhere + 1, "the process opened more than one subscriber connection"


async def test_a_second_subscriber_waits_for_the_first_ones_pending_subscribe(pubsub: PubSub):
    first_in, leave = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with pubsub.subscribe("user:3"):
            first_in.set()
            await leave.wait()

    holder = asyncio.create_task(first())
    await asyncio.sleep(0)  # the first subscribe is sent but not yet confirmed
    assert not first_in.is_set()
    try:
        async with pubsub.subscribe("user:3") as second:
            assert await pubsub.publish("user:3", "hello") == 1, "subscribed before Valkey confirmed it"
            assert (await next_message(second)).data == "hello"
    finally:
        leave.set()
        await holder


async def test_a_channel_is_left_when_its_last_local_subscriber_goes(pubsub: PubSub, valkey):
    async with pubsub.subscribe("chat:9") as staying:
        async with pubsub.subscribe("chat:9"):
            pass
        assert await subscribers(valkey, "chat:9") == 1
        await pubsub.publish("chat:9", "still here")
        assert (await next_message(staying)).data == "still here"
    for _ in range(50):
        if await subscribers(valkey, "chat:9") == 0:
            break
        await asyncio.sleep(0.02)
    assert await subscribers(valkey, "chat:9") == 0


async def test_a_subscriber_that_falls_behind_is_told_it_lost_messages(valkey: Valkey):
    hub = PubSub(valkey, queue_size=3)
    try:
        async with hub.subscribe("busy") as slow:
            for n in range(5):
                await hub.publish("busy", str(n))
            await asyncio.sleep(0.2)
            with pytest.raises(MessagesLost):
                await next_message(slow)
            # What came after the gap is whole again.
            assert (await next_message(slow)).data == "4"
    finally:
        await hub.close()


def valkey_server(port: int, folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["valkey-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_ready(client: Valkey) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            await client.ping()
            return
        except (ConnectionError, OSError):
            assert time.monotonic() < deadline, "valkey did not start"
            await asyncio.sleep(0.05)


async def test_the_subscriber_connection_comes_back_after_valkey_restarts(tmp_path: Path):
    port = free_port()
    client = Valkey(host="127.0.0.1", port=port, decode_responses=True, socket_connect_timeout=0.5)
    hub = PubSub(client, retry_seconds=0.1)
    servers = [valkey_server(port, tmp_path)]
    try:
        await wait_ready(client)
        async with hub.subscribe("user:7") as socket:
            await hub.publish("user:7", "before")
            assert (await next_message(socket)).data == "before"
            servers[0].terminate()
            servers[0].wait(timeout=10)
            servers.append(valkey_server(port, tmp_path))
            await wait_ready(client)
            # Whatever was published meanwhile is gone, and the subscriber is told so it can catch up.
            with pytest.raises(MessagesLost):
                await next_message(socket, timeout=10)
            assert await subscribers(client, "user:7") == 1
            await hub.publish("user:7", "after")
            assert (await next_message(socket)).data == "after"
            assert len(await client.client_list(_type="pubsub")) == 1, "the lost connection was not replaced"
    finally:
        await hub.close()
        await client.aclose()
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
