"""What ``harvestctl bench notifications`` measures: new-match events taken end to end through the outbox, the
running workers and a push provider, to a receiver on loopback that this process runs in Expo's place.

A bench person is a bare account (``push-…@seed.bench.invalid``, a password nobody knows) with one device of
the ``bench`` provider, whose token names the receiver's port (``bench-<port>-<person>``): the workers' bench
provider posts its pushes there, and only ever to 127.0.0.1, so no phone and no real provider is reached. Pairs
of them share a match. The bench publishes ``matching.match_created`` for both sides of every pair, as matching
does, all in one transaction, and notes when it committed; the receiver notes when each push arrived. The
address keeps them apart from the discovery and chat benches' people, and the run removes them at the end
(their devices, notifications and deliveries go with the accounts).

    commit ──outbox──► relay ──► worker: notifications.note_match ──► delivery ──► dispatcher ──► receiver
      └──────────────────────────── delay, per event ──────────────────────────────────────────────┘
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import socket
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, NamedTuple

import asyncpg
import uvicorn

from server.auth.service import AuthService
from server.bench import percentile
from server.matching import seed
from server.matching.service import MATCH_CREATED
from server.platform import database
from server.platform.events import publish

#: what every bench notification address matches, and no other address does
EMAIL_LIKE = f"push-%@{seed.DOMAIN}"
#: after the last expected push, how long a second copy of any push is still waited for
SETTLE_SECONDS = 0.5
DEVICE_COLUMNS = ("id", "user_id", "provider", "platform", "token")
MATCH_COLUMNS = ("id", "user_a", "user_b", "created_at")

#: deliveries of bench people the dispatchers gave up on: their pushes will not come
_GIVEN_UP = """
SELECT count(*) FROM notification_deliveries d JOIN users u ON u.id = d.user_id
WHERE u.email LIKE $1 AND d.state IN ('dropped', 'failed')
"""
_DELIVERIES = """
SELECT d.state, d.detail, count(*) AS count FROM notification_deliveries d JOIN users u ON u.id = d.user_id
WHERE u.email LIKE $1 GROUP BY d.state, d.detail ORDER BY count(*) DESC
"""

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Arrival(NamedTuple):
    """One push as the receiver got it."""

    token: str
    delivery_id: str
    match_id: str
    #: time.monotonic() when its request arrived
    at: float


class Receiver:
    """An Expo-shaped endpoint on a free loopback port that notes each push and answers every one ok."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self._deliveries: set[str] = set()
        self._arrived = asyncio.Event()
        # Bound here rather than by uvicorn, so the port is known before any device names it.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        # log_config None: uvicorn leaves this process's logging as it found it.
        config = uvicorn.Config(
            self._app, interface="asgi3", lifespan="off", log_config=None, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Receiver:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the bench receiver stopped before it started")
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()

    @property
    def delivered(self) -> int:
        """How many different deliveries have had a push arrive."""
        return len(self._deliveries)

    async def wait_for(self, deliveries: int, timeout: float) -> None:
        """Until pushes of ``deliveries`` different deliveries have arrived, or ``timeout`` seconds have passed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while len(self._deliveries) < deliveries:
                    self._arrived.clear()
                    await self._arrived.wait()

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        arrived = time.monotonic()
        if scope["method"] != "POST" or scope["path"] != "/send":
            await _answer(send, 404, {"errors": [{"message": "POST /send"}]})
            return
        pushes = json.loads(body)
        for push in pushes:
            data = push.get("data") or {}
            self.arrivals.append(Arrival(push["to"], data.get("deliveryId", ""), data.get("matchId", ""), arrived))
            self._deliveries.add(data.get("deliveryId", ""))
        self._arrived.set()
        await _answer(send, 200, {"data": [{"status": "ok"} for _ in pushes]})


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


class Seeded(NamedTuple):
    #: (match id, person, other person), one per side of every match: the events to publish
    events: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]
    #: each person's device token
    tokens: dict[str, uuid.UUID]


async def seed_people(connection: asyncpg.Connection, pairs: int, port: int, password_hash: str) -> Seeded:
    """``pairs`` matched pairs of bench people, each person with one bench device pointing at ``port``."""
    now = dt.datetime.now(dt.UTC)
    people = [uuid.uuid4() for _ in range(2 * pairs)]
    tokens = {f"bench-{port}-{person.hex}": person for person in people}
    for first in range(0, len(people), seed.BATCH):
        chunk = people[first : first + seed.BATCH]
        users = [
            (person, f"push-{person.hex}@{seed.DOMAIN}", password_hash, "Bench", dt.date(1990, 1, 1), "woman", "user",
             now, now)
            for person in chunk
        ]  # fmt: skip
        devices = [(uuid.uuid4(), person, "bench", "ios", f"bench-{port}-{person.hex}") for person in chunk]
        async with connection.transaction():
            # Made again at will: losing the last commits to a crash costs nothing.
            await connection.execute("SET LOCAL synchronous_commit = off")
            await connection.copy_records_to_table("users", records=users, columns=seed.USER_COLUMNS)
            await connection.copy_records_to_table("notification_devices", records=devices, columns=DEVICE_COLUMNS)
    # A match names its two people in order (user_a < user_b), as matching writes it.
    matches = [(uuid.uuid4(), min(one, two), max(one, two)) for one, two in zip(people[::2], people[1::2], strict=True)]
    async with connection.transaction():
        await connection.copy_records_to_table(
            "matches", records=[(*match, now) for match in matches], columns=MATCH_COLUMNS
        )
    events = [(match_id, a, b) for match_id, one, two in matches for a, b in ((one, two), (two, one))]
    return Seeded(events, tokens)


async def publish_matches(events: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]) -> dict[tuple[str, str], float]:
    """Publish ``matching.match_created`` for each (match, person, other); when each event committed
    (time.monotonic()), by (match id, person id). All in one transaction, so they land as one burst: written a
    few hundred a second, one after another, they would measure this process's pace rather than the workers'."""
    async with database.engine().transaction():
        for match_id, person, other in events:
            await publish(MATCH_CREATED, {"matchId": str(match_id), "userId": str(person), "otherUserId": str(other)})
    at = time.monotonic()
    return {(str(match_id), str(person)): at for match_id, person, _ in events}


async def wait_for_pushes(connection: asyncpg.Connection, receiver: Receiver, expected: int, timeout: float) -> None:
    """Until a push of every delivery has arrived, or every one not given up on has (workers without the bench
    provider drop them all at once), or ``timeout``; then a moment more for any second copy."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        await receiver.wait_for(expected, min(left, 1.0))
        if receiver.delivered >= expected:
            break
        if receiver.delivered + await connection.fetchval(_GIVEN_UP, EMAIL_LIKE) >= expected:
            break
    await asyncio.sleep(SETTLE_SECONDS)


def reckon(
    committed: dict[tuple[str, str], float], arrivals: list[Arrival], tokens: dict[str, uuid.UUID]
) -> dict[str, Any]:
    """Each event matched with its push (by match and the person whose device it reached): the rate from the
    first commit to the last arrival, the delay from commit to the provider's request, and what went amiss."""
    first: dict[tuple[str, str], Arrival] = {}
    copies: Counter[tuple[str, str]] = Counter()
    strays = 0
    for arrival in sorted(arrivals, key=lambda a: a.at):
        person = tokens.get(arrival.token)
        key = (arrival.match_id, str(person))
        if person is None or key not in committed:
            strays += 1
            continue
        copies[key] += 1
        first.setdefault(key, arrival)
    delays = sorted((arrival.at - committed[key]) * 1000 for key, arrival in first.items())
    span = max((a.at for a in first.values()), default=0.0) - min(committed.values(), default=0.0)
    return {
        "events": len(committed),
        "pushesExpected": len(committed),
        "pushesReceived": len(first),
        "missing": len(committed) - len(first),
        "duplicates": sum(count - 1 for count in copies.values()),
        "strays": strays,
        "eventsPerSecond": len(committed) / span if first and span > 0 else 0.0,
        "delay": {
            name: percentile(delays, fraction) if delays else 0.0
            for name, fraction in (("p50Ms", 0.5), ("p99Ms", 0.99), ("maxMs", 1.0))
        },
    }


async def run(service: AuthService, events: int, timeout: float, password_hash: str) -> dict[str, Any]:
    """Seed ``events / 2`` matched pairs, publish both sides of each match, and follow every push to the
    receiver; the bench people are removed again whatever happens."""
    pairs = max(1, events // 2)
    async with database.connection(database.engine()) as connection:
        leftover = await purge(connection, service)
        try:
            async with Receiver() as receiver:
                started = time.perf_counter()
                seeded = await seed_people(connection, pairs, receiver.port, password_hash)
                seeding = time.perf_counter() - started
                started = time.perf_counter()
                committed = await publish_matches(seeded.events)
                publishing = time.perf_counter() - started
                await wait_for_pushes(connection, receiver, len(committed), timeout)
                figures = reckon(committed, receiver.arrivals, seeded.tokens)
            deliveries = [dict(row) for row in await connection.fetch(_DELIVERIES, EMAIL_LIKE)]
        finally:
            purged = await purge(connection, service)
    return figures | {
        "pairs": pairs,
        "seedSeconds": seeding,
        "publishSeconds": publishing,
        "timeoutSeconds": timeout,
        # The bench people's deliveries by state: a drop that says "bench is not configured" means the workers
        # run without the bench provider.
        "deliveries": deliveries,
        "leftoverPurged": leftover["people"],
        "purged": purged["people"],
    }


async def purge(connection: asyncpg.Connection, service: AuthService) -> dict[str, Any]:
    """Delete every bench notification person, with their devices, matches, notifications and deliveries."""
    started = time.perf_counter()
    purged = await seed.delete_people(connection, service, EMAIL_LIKE)
    return {"people": purged, "seconds": time.perf_counter() - started}
