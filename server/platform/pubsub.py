"""Real-time fan-out across processes over Valkey pub/sub: one subscriber connection per process.

Every local subscriber (a WebSocket, say) gets its own bounded queue; the process holds one Valkey
connection subscribed to the union of their channels and hands each message to the queues that want it.
Pub/sub delivers at most once: a message published while the connection is down, or one a slow
subscriber had no room for, is gone. The subscriber is told (``MessagesLost``) so it can catch up from
Postgres, which holds everything a person would miss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from valkey.asyncio import Valkey
from valkey.asyncio.client import PubSub as ValkeyPubSub
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

log = logging.getLogger("harvest.pubsub")


def person_channel(user_id: uuid.UUID | str) -> str:
    """The channel of what is sent live to one person's open sockets, whichever process holds them."""
    return f"harvest:person:{user_id}"


def session_channel(session_id: uuid.UUID | str) -> str:
    """The channel that tells one login's open sockets it has ended (logout, reset, erasure, a stolen token)."""
    return f"harvest:session:{session_id}"


#: what is published on a session's channel when the login ends
SESSION_ENDED = '{"type":"session_ended"}'


@dataclass(frozen=True)
class Message:
    channel: str
    data: str


class MessagesLost(Exception):
    """Messages for this subscription were dropped (a reconnect, or it fell behind): catch up from Postgres."""


class Subscription:
    """Messages on some channels, in the order they were published. Iterate it; after ``MessagesLost``,
    iterate it again to go on."""

    def __init__(self, channels: frozenset[str], size: int) -> None:
        self.channels = channels
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue(size)

    def _offer(self, message: Message | None) -> None:
        """Queue a message, or a gap (None); a full queue is emptied into one gap, as none of it can be trusted
        to be complete any more."""
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        message = await self._queue.get()
        if message is None:
            raise MessagesLost(f"messages on {sorted(self.channels)} were lost")
        return message


class PubSub:
    """Publish to channels; subscribe many local listeners through one shared Valkey connection."""

    def __init__(self, valkey: Valkey, *, queue_size: int = 256, retry_seconds: float = 0.5) -> None:
        self.valkey = valkey
        self.queue_size = queue_size
        self.retry_seconds = retry_seconds
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._connection: ValkeyPubSub | None = None
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def publish(self, channel: str, data: str) -> int:
        """Send to every process subscribed to ``channel``; returns how many processes received it."""
        return int(await self.valkey.publish(channel, data))

    @contextlib.asynccontextmanager
    async def subscribe(self, *channels: str, timeout: float = 5.0) -> AsyncIterator[Subscription]:
        """A subscription that receives everything published once Valkey has confirmed it."""
        subscription = Subscription(frozenset(channels), self.queue_size)
        new = [channel for channel in channels if channel not in self._subscriptions]
        for channel in channels:
            self._subscriptions.setdefault(channel, set()).add(subscription)
        try:
            await self._add(new, channels, timeout)
            yield subscription
        finally:
            gone = []
            for channel in channels:
                local = self._subscriptions.get(channel, set())
                local.discard(subscription)
                if not local:
                    self._subscriptions.pop(channel, None)
                    gone.append(channel)
            if gone and self._connection is not None:
                with contextlib.suppress(ValkeyConnectionError, ValkeyTimeoutError, OSError):
                    await self._connection.unsubscribe(*gone)

    async def _add(self, new: list[str], channels: tuple[str, ...], timeout: float) -> None:
        """Subscribe to the channels no local subscriber had, and wait until Valkey has confirmed every channel
        wanted: also those another local subscriber asked for a moment ago, still unconfirmed."""
        loop = asyncio.get_running_loop()
        for channel in new:
            self._confirmed.setdefault(channel, loop.create_future())
        waits = [self._confirmed[channel] for channel in channels if channel in self._confirmed]
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="pubsub reader")
        if new and self._connection is not None:
            # A failure here is the reader's to handle: it reconnects and subscribes to every channel wanted.
            with contextlib.suppress(ValkeyConnectionError, ValkeyTimeoutError, OSError):
                await self._connection.subscribe(*new)
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(asyncio.shield(wait) for wait in waits))

    async def _read(self) -> None:
        """The process's one subscriber connection: deliver, and reconnect after any loss."""
        lost = False
        while True:
            try:
                if self._connection is None:
                    # Published before the subscribe: a channel added meanwhile is subscribed by its subscriber.
                    self._connection = connection = self.valkey.pubsub()
                    await connection.connect()  # type: ignore[no-untyped-call]
                    if self._subscriptions:
                        await connection.subscribe(*self._subscriptions)
                    if lost:
                        log.info("pub/sub reconnected", extra={"channels": len(self._subscriptions)})
                        for subscription in {s for local in self._subscriptions.values() for s in local}:
                            subscription._offer(None)
                        lost = False
                message = await self._connection.get_message(timeout=1.0)
                if message is not None:
                    self._deliver(message)
            except (ValkeyConnectionError, ValkeyTimeoutError, OSError) as exc:
                log.warning("pub/sub connection lost", extra={"error": str(exc), "retry_in": self.retry_seconds})
                await self._drop_connection()
                lost = True
                await asyncio.sleep(self.retry_seconds)

    def _deliver(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        if message["type"] == "subscribe":
            confirmed = self._confirmed.pop(channel, None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
        elif message["type"] == "message":
            for subscription in self._subscriptions.get(channel, ()):
                subscription._offer(Message(channel, message["data"]))

    async def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(ValkeyConnectionError, ValkeyTimeoutError, OSError):
                await self._connection.aclose()  # type: ignore[no-untyped-call]
            self._connection = None

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._drop_connection()
