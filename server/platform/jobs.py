"""The job queue: events in a Postgres outbox, fanned out onto one Valkey Stream per lane, one entry per listener.

    publish ──INSERT + NOTIFY──► job_outbox ──relay──► harvest:jobs:<lane> ──XREADGROUP──► lane ──ok──► XACK + XDEL
    (in the caller's transaction)  one entry per listener ▲   ▲                (≤ N in flight)│
                                                          │   └── XAUTOCLAIM ◄─────────────┤ worker died holding it
                                                          │                                │ failed or over time
                              harvest:jobs:<lane>:delayed ◄── ZADD (backoff) ──────────────┤ attempts left
                                                                                           └► harvest:jobs:dead (MAXLEN)

An event is committed with the transaction that caused it, so a crash or a Valkey outage delays it but
never loses it. Each later move happens in one transaction (Postgres, MULTI/EXEC or Lua), so an entry is
never in two places nor in none. Delivery is at least once: a worker killed after a listener finished
but before the ack runs that listener again, so listeners are idempotent. Each lane keeps a bounded
number of entries in flight and takes the next one as soon as a slot frees, so a burst of photos never
delays an email: they are in different lanes, and neither waits for a batch to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey
from valkey.asyncio.client import Pipeline
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import ResponseError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from server.platform.events import OUTBOX_CHANNEL, Job, Lane, Listener, Listeners, publish
from server.platform.tables import JobOutbox

log = logging.getLogger("harvest.jobs")

GROUP = "harvest-workers"
STREAMS = {lane: f"harvest:jobs:{lane}" for lane in Lane}
DELAYED = {lane: f"harvest:jobs:{lane}:delayed" for lane in Lane}
DEAD = "harvest:jobs:dead"

# Moves due retries back onto their lane's stream; atomic, so two workers never both move one.
_RELEASE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, raw in ipairs(due) do
  redis.call('ZREM', KEYS[1], raw)
  local job = cjson.decode(raw)
  redis.call('XADD', KEYS[2], '*', 'event', job.event, 'listener', job.listener, 'payload', job.payload,
             'attempt', tostring(job.attempt))
end
return #due
"""


class DeadLetters:
    """Entries that used up their attempts or that nothing could run: bounded, counted, listed, replayed."""

    def __init__(self, valkey: Valkey, *, keep: int = 10_000) -> None:
        self.valkey = valkey
        #: the oldest letters are trimmed beyond this many, so a broken listener cannot fill Valkey's memory
        self.keep = keep

    def park(self, pipe: Pipeline, fields: Mapping[str, str]) -> None:
        pipe.xadd(DEAD, dict(fields), maxlen=self.keep, approximate=False)

    async def count(self) -> int:
        return int(await self.valkey.xlen(DEAD))

    async def list(self, limit: int = 100) -> list[dict[str, Any]]:
        entries = await self.valkey.xrange(DEAD, count=limit)
        return [{"id": entry_id} | fields for entry_id, fields in entries]

    async def replay(self, dead_id: str) -> bool:
        """Run a dead letter again with a fresh attempt count: its own listener only, or, for an event that
        had no listener, every listener wired now."""
        entries = await self.valkey.xrange(DEAD, min=dead_id, max=dead_id)
        if not entries:
            return False
        fields = entries[0][1]
        if not fields.get("listener"):
            await publish(fields["event"], json.loads(fields["payload"]))
            await self.valkey.xdel(DEAD, dead_id)
            return True
        async with self.valkey.pipeline(transaction=True) as pipe:
            pipe.xadd(STREAMS[Lane(fields["lane"])], _entry(fields["event"], fields["listener"], fields["payload"], 1))
            pipe.xdel(DEAD, dead_id)
            await pipe.execute()
        return True


def _entry(event: str, listener: str, payload: str, attempt: int) -> dict[str, str]:
    return {"event": event, "listener": listener, "payload": payload, "attempt": str(attempt)}


class OutboxRelay:
    """Moves committed events from Postgres onto the lanes, one entry per listener: woken by NOTIFY, polling
    as a fallback."""

    def __init__(
        self,
        valkey: Valkey,
        engine: PostgresEngine,
        listeners: Listeners,
        *,
        dead_letters: DeadLetters | None = None,
        batch: int = 100,
        poll_seconds: float = 2.0,
    ) -> None:
        self.valkey = valkey
        self.engine = engine
        self.listeners = listeners
        self.dead_letters = dead_letters or DeadLetters(valkey)
        self.batch = batch
        self.poll_seconds = poll_seconds

    async def relay(self) -> int:
        """Relay one batch of events. Rows are deleted only in the transaction that published them."""
        async with self.engine.transaction():
            rows = await JobOutbox.raw(
                "SELECT id, kind, payload FROM job_outbox ORDER BY id LIMIT {} FOR UPDATE SKIP LOCKED", self.batch
            )
            if not rows:
                return 0
            async with self.valkey.pipeline(transaction=True) as pipe:
                for row in rows:
                    listeners = self.listeners.of(row["kind"])
                    for listener in listeners:
                        pipe.xadd(STREAMS[listener.lane], _entry(row["kind"], listener.name, row["payload"], 1))
                    if not listeners:
                        # Every event is wired to a listener, so none means a wiring mistake: kept for a replay.
                        log.warning("event without a listener", extra={"event": row["kind"]})
                        self.dead_letters.park(
                            pipe,
                            _entry(row["kind"], "", row["payload"], 1) | {"lane": "", "error": "no listener"},
                        )
                await pipe.execute()
            await JobOutbox.delete().where(JobOutbox.id.is_in([row["id"] for row in rows]))
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        listener = None
        while not stop.is_set():
            try:
                if listener is None or listener.is_closed():
                    listener = await self.engine.get_new_connection()
                    await listener.add_listener(OUTBOX_CHANNEL, lambda *_: wake.set())
                wake.clear()
                while await self.relay() == self.batch:
                    pass
            except (ValkeyConnectionError, ValkeyTimeoutError, OSError, asyncpg.PostgresError) as exc:
                log.warning("outbox relay paused", extra={"error": str(exc)})
            # A NOTIFY wakes the relay at once; the poll catches anything committed while it was away.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self.poll_seconds)
        if listener is not None:
            await listener.close()


@dataclass(frozen=True)
class LaneLimits:
    #: entries run at once in this lane by one worker process
    in_flight: int
    #: a listener still running after this long is abandoned and retried
    time_limit_seconds: float


DEFAULT_LANES = {
    Lane.FAST: LaneLimits(in_flight=32, time_limit_seconds=30),
    Lane.HEAVY: LaneLimits(in_flight=os.cpu_count() or 1, time_limit_seconds=120),
}


class Worker:
    """Consumer side: every lane dispatched continuously; listeners retried with exponential backoff and
    parked in the dead letters when they keep failing."""

    def __init__(
        self,
        valkey: Valkey,
        listeners: Listeners | Iterable[Listener],
        *,
        consumer: str,
        lanes: Mapping[Lane, LaneLimits] = DEFAULT_LANES,
        dead_letters: DeadLetters | None = None,
        max_attempts: int = 5,
        backoff_seconds: float = 2.0,
        max_backoff_seconds: float = 600.0,
        claim_idle_ms: int = 60_000,
        block_ms: int = 1_000,
        stale_consumer_ms: int = 3_600_000,
    ) -> None:
        self.valkey = valkey
        self.listeners = listeners if isinstance(listeners, Listeners) else Listeners(listeners)
        self.consumer = consumer
        self.dead_letters = dead_letters or DeadLetters(valkey)
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.stale_consumer_ms = stale_consumer_ms
        self.lanes = {lane: _LaneRunner(self, lane, limits) for lane, limits in lanes.items()}

    async def ensure_groups(self) -> None:
        for runner in self.lanes.values():
            await runner.ensure_group()

    async def step(self) -> int:
        """One dispatch round in every lane; returns the entries started (they run on as tasks)."""
        started = 0
        for runner in self.lanes.values():
            started += await runner.step()
        return started

    async def settled(self) -> None:
        """Wait until every entry started so far has finished."""
        for runner in self.lanes.values():
            await runner.settled()

    async def run(self, stop: asyncio.Event) -> None:
        """Run every lane until ``stop``, then let what is in flight finish."""
        log.info(
            "worker started",
            extra={
                "consumer": self.consumer,
                "lanes": sorted(self.lanes),
                "listeners": [listener.name for listener in self.listeners],
            },
        )
        await asyncio.gather(*(runner.run(stop) for runner in self.lanes.values()))

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_seconds * 2.0 ** (attempt - 1), self.max_backoff_seconds)


class _LaneRunner:
    """One lane of one worker process: at most ``in_flight`` entries at once, the next taken as a slot frees."""

    def __init__(self, worker: Worker, lane: Lane, limits: LaneLimits) -> None:
        self.worker = worker
        self.valkey = worker.valkey
        self.lane = lane
        self.limits = limits
        self.stream = STREAMS[lane]
        self.delayed = DELAYED[lane]
        self.running: dict[str, asyncio.Task[None]] = {}
        self._release_due = self.valkey.register_script(_RELEASE_DUE)
        self._next_housekeeping = 0.0

    async def ensure_group(self) -> None:
        """Create the consumer group once, and forget consumers of workers long gone that hold nothing."""
        try:
            await self.valkey.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        for consumer in await self.valkey.xinfo_consumers(self.stream, GROUP):
            if (
                consumer["pending"] == 0
                and consumer["idle"] > self.worker.stale_consumer_ms
                and consumer["name"] != self.worker.consumer
            ):
                await self.valkey.xgroup_delconsumer(self.stream, GROUP, consumer["name"])

    async def step(self) -> int:
        """Fill the free slots: due retries first go back on the stream, then a dead worker's entries, then new ones."""
        free = self.limits.in_flight - len(self.running)
        if free <= 0:
            return 0
        jobs: list[Job] = []
        # Retries and reclaims need not be looked for on every entry taken; once per blocking read is prompt enough.
        if time.monotonic() >= self._next_housekeeping:
            self._next_housekeeping = time.monotonic() + self.worker.block_ms / 1000
            await self._release_due(keys=[self.delayed, self.stream], args=[time.time(), free])
            _, claimed, _ = await self.valkey.xautoclaim(
                self.stream,
                GROUP,
                self.worker.consumer,
                min_idle_time=self.worker.claim_idle_ms,
                start_id="0-0",
                count=free,
            )
            # A reclaimed entry's last try died with its worker, so it counts as a used attempt.
            jobs = [_job(entry_id, fields, extra=1) for entry_id, fields in claimed if fields]
            jobs = [job for job in jobs if job.id not in self.running]
        if not jobs:
            read = await self.valkey.xreadgroup(
                GROUP, self.worker.consumer, {self.stream: ">"}, count=free, block=self.worker.block_ms
            )
            jobs = [_job(entry_id, fields) for _, entries in read for entry_id, fields in entries]
        for job in jobs:
            task = asyncio.create_task(self._run(job), name=f"job {job.listener} {job.id}")
            self.running[job.id] = task
            task.add_done_callback(functools.partial(self._finished, job.id))
        return len(jobs)

    def _finished(self, job_id: str, _: asyncio.Task[None]) -> None:
        self.running.pop(job_id, None)

    async def settled(self) -> None:
        while self.running:
            await asyncio.wait(list(self.running.values()))

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until ``stop``; a Valkey outage pauses the lane instead of ending the process."""
        heartbeat = asyncio.create_task(self._heartbeat(stop))
        try:
            await self._dispatch(stop)
        finally:
            await self.settled()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Keep what runs here from looking abandoned: claiming an entry again resets its idle time, so only
        the entries of a worker that stopped answering are ever reclaimed, however long a listener may run."""
        every = self.worker.claim_idle_ms / 3000
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
            if self.running:
                try:
                    await self.valkey.xclaim(
                        self.stream, GROUP, self.worker.consumer, 0, list(self.running), justid=True
                    )
                except (ValkeyConnectionError, ValkeyTimeoutError, OSError) as exc:
                    log.warning("heartbeat missed", extra={"lane": self.lane, "error": str(exc)})

    async def _dispatch(self, stop: asyncio.Event) -> None:
        pause = 0.5
        while not stop.is_set():
            try:
                await self.ensure_group()
                pause = 0.5
                while not stop.is_set():
                    if len(self.running) >= self.limits.in_flight:
                        await asyncio.wait(list(self.running.values()), return_when=asyncio.FIRST_COMPLETED)
                    else:
                        await self.step()
            except (ValkeyConnectionError, ValkeyTimeoutError, OSError) as exc:
                log.warning(
                    "valkey unreachable; retrying", extra={"lane": self.lane, "error": str(exc), "retry_in": pause}
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
                pause = min(pause * 2, 10.0)

    async def _run(self, job: Job) -> None:
        try:
            await self._attempt(job)
        except (ValkeyConnectionError, ValkeyTimeoutError, OSError) as exc:
            # Not acked: the entry stays pending and is reclaimed once Valkey is back.
            log.warning("job outcome not recorded", extra={"job": job.id, "listener": job.listener, "error": str(exc)})

    async def _attempt(self, job: Job) -> None:
        listener = self.worker.listeners.named(job.listener)
        if listener is None:
            await self._settle(job, f"no listener named {job.listener!r}", retry=False)
            return
        if job.attempt > self.worker.max_attempts:
            await self._settle(job, "attempts used up (worker died while running it)", retry=False)
            return
        try:
            async with asyncio.timeout(self.limits.time_limit_seconds):
                await listener.run(job)
        except TimeoutError:
            limit = self.limits.time_limit_seconds
            log.warning("job over its time limit", extra={"job": job.id, "listener": job.listener, "limit": limit})
            await self._settle(job, f"still running after {limit:g}s", retry=job.attempt < self.worker.max_attempts)
            return
        except Exception as exc:
            log.warning(
                "job failed", extra={"job": job.id, "listener": job.listener, "attempt": job.attempt}, exc_info=exc
            )
            await self._settle(job, f"{type(exc).__name__}: {exc}", retry=job.attempt < self.worker.max_attempts)
            return
        async with self.valkey.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, job.id)
            pipe.xdel(self.stream, job.id)
            await pipe.execute()

    async def _settle(self, job: Job, error: str, *, retry: bool) -> None:
        """Ack the failed try and, in the same transaction, schedule the retry or park the entry."""
        payload = json.dumps(job.payload)
        async with self.valkey.pipeline(transaction=True) as pipe:
            if retry:
                member = json.dumps(
                    {
                        "origin": job.id,
                        "event": job.event,
                        "listener": job.listener,
                        "payload": payload,
                        "attempt": job.attempt + 1,
                    }
                )
                pipe.zadd(self.delayed, {member: time.time() + self.worker.backoff(job.attempt)})
            else:
                fields = _entry(job.event, job.listener, payload, job.attempt)
                self.worker.dead_letters.park(
                    pipe, fields | {"lane": self.lane.value, "error": error[:500], "origin": job.id}
                )
            pipe.xack(self.stream, GROUP, job.id)
            pipe.xdel(self.stream, job.id)
            await pipe.execute()


def _job(entry_id: str, fields: dict[str, str], extra: int = 0) -> Job:
    return Job(
        id=entry_id,
        event=fields.get("event", ""),
        listener=fields.get("listener", ""),
        payload=json.loads(fields.get("payload") or "{}"),
        attempt=int(fields.get("attempt", "1")) + extra,
    )
