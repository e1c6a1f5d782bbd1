"""When each person was last active, for the deck's "most recently active first".

Every signed-in request by a person notes them active, but Postgres hears of it at most once every
``INTERVAL_SECONDS`` per person: each API process remembers, in a bounded dict of its own, whom it wrote
for recently. No Valkey round trip per request buys a shared throttle: with several API processes a
person may be written once per process per interval, a handful of one-row updates every few minutes,
which costs less than asking Valkey on every request. Deck ranking needs minutes, not seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict

from piccolo.engine.postgres import PostgresEngine

from server.platform import database

log = logging.getLogger("harvest.matching")

INTERVAL_SECONDS = 300.0
#: people remembered per process; past this the longest-remembered are forgotten (and may be written again early)
CAPACITY = 100_000
#: the write is a courtesy to the deck: a slow database delays the request this long at most
WRITE_TIMEOUT_SECONDS = 2.0

_NOTE = "UPDATE matching_candidates SET last_active_at = now() WHERE id = $1"


class Throttle:
    """Says yes to a key at most once per ``interval`` seconds, remembering at most ``capacity`` keys."""

    def __init__(self, interval: float, capacity: int) -> None:
        self.interval = interval
        self.capacity = capacity
        self._last: OrderedDict[uuid.UUID, float] = OrderedDict()

    def due(self, key: uuid.UUID, now: float) -> bool:
        """Whether ``key`` is due at ``now`` (monotonic seconds); a yes starts its next interval."""
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        self._last[key] = now
        self._last.move_to_end(key)
        # Entries are in the order they were last said yes to: the expired ones, and the ones to forget
        # first when over capacity, are at the front (``key`` itself is at the back).
        while len(self._last) > 1:
            oldest, at = next(iter(self._last.items()))
            if now - at < self.interval and len(self._last) <= self.capacity:
                break
            del self._last[oldest]
        return True

    def __len__(self) -> int:
        return len(self._last)


_throttle = Throttle(INTERVAL_SECONDS, CAPACITY)


async def note_active(user_id: uuid.UUID, engine: PostgresEngine | None = None) -> None:
    """Record that the person is active now, unless this process did so within the interval. Never raises:
    a failed write is logged and skipped (the person is not retried before the interval ends)."""
    if not _throttle.due(user_id, time.monotonic()):
        return
    try:
        async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
            async with database.connection(engine or database.engine()) as connection:
                await connection.execute(_NOTE, user_id)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the request itself must go on
        log.warning("last activity not recorded", extra={"error": type(exc).__name__})
