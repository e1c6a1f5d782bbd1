"""The job queue: a Postgres outbox relayed onto Valkey Streams, read by one consumer group.

    enqueue ──INSERT + NOTIFY──► job_outbox ──relay──► harvest:jobs ──XREADGROUP──► worker ──ok──► XACK + XDEL
    (in the caller's transaction)                         ▲   ▲                        │
                                                          │   └── XAUTOCLAIM ◄─────────┤ worker died holding it
                                                          │                            │ handler failed
                                   harvest:jobs:delayed ◄── ZADD (backoff) ────────────┤ attempts left
                                                                                       └► harvest:jobs:dead

A job is committed with the transaction that caused it, so a crash or a Valkey outage delays it but
never loses it. Each later move happens in one transaction (Postgres, MULTI/EXEC or Lua), so a job is
never in two places nor in none. Delivery is at least once: a worker killed after its handler finished
but before the ack runs that job again, so handlers are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import ResponseError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from server.platform.tables import JobOutbox

log = logging.getLogger("harvest.jobs")

OUTBOX_CHANNEL = "harvest_jobs"
STREAM = "harvest:jobs"
GROUP = "harvest-workers"
DELAYED = "harvest:jobs:delayed"
DEAD = "harvest:jobs:dead"

# Moves due retries back onto the stream; atomic, so two workers never both move one.
_RELEASE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, raw in ipairs(due) do
  redis.call('ZREM', KEYS[1], raw)
  local job = cjson.decode(raw)
  redis.call('XADD', KEYS[2], '*', 'kind', job.kind, 'payload', job.payload, 'attempt', tostring(job.attempt))
end
return #due
"""


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    payload: dict[str, Any]
    #: 1 on the first try; a retry or a reclaim from a dead worker counts up
    attempt: int


Handler = Callable[[Job], Awaitable[None]]


class JobQueue:
    """Producer side, plus the dead-letter view an operator uses."""

    def __init__(self, valkey: Valkey) -> None:
        self.valkey = valkey

    @staticmethod
    async def enqueue(kind: str, payload: Mapping[str, Any]) -> None:
        """Record a job; inside the caller's transaction when there is one, so it exists only if that commits."""
        await JobOutbox.insert(JobOutbox(kind=kind, payload=json.dumps(payload)))
        await JobOutbox.raw("SELECT pg_notify({}, '')", OUTBOX_CHANNEL)

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        entries = await self.valkey.xrange(DEAD, count=limit)
        return [{"id": entry_id} | fields for entry_id, fields in entries]

    async def replay(self, dead_id: str) -> str | None:
        """Put a dead-lettered job back on the queue with a fresh attempt count."""
        entries = await self.valkey.xrange(DEAD, min=dead_id, max=dead_id)
        if not entries:
            return None
        fields = entries[0][1]
        async with self.valkey.pipeline(transaction=True) as pipe:
            pipe.xadd(STREAM, {"kind": fields["kind"], "payload": fields["payload"], "attempt": "1"})
            pipe.xdel(DEAD, dead_id)
            new_id, _ = await pipe.execute()
        return new_id


class OutboxRelay:
    """Moves committed jobs from Postgres onto the stream: woken by NOTIFY, polling as a fallback."""

    def __init__(self, valkey: Valkey, engine: PostgresEngine, *, batch: int = 100, poll_seconds: float = 2.0) -> None:
        self.valkey = valkey
        self.engine = engine
        self.batch = batch
        self.poll_seconds = poll_seconds

    async def relay(self) -> int:
        """Relay one batch. Rows are deleted only in the transaction that published them."""
        async with self.engine.transaction():
            rows = await JobOutbox.raw(
                "SELECT id, kind, payload FROM job_outbox ORDER BY id LIMIT {} FOR UPDATE SKIP LOCKED", self.batch
            )
            if not rows:
                return 0
            async with self.valkey.pipeline(transaction=False) as pipe:
                for row in rows:
                    pipe.xadd(STREAM, {"kind": row["kind"], "payload": row["payload"], "attempt": "1"})
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


class Worker:
    """Consumer side: runs handlers by job kind, retries with exponential backoff, parks what keeps failing."""

    def __init__(
        self,
        valkey: Valkey,
        handlers: Mapping[str, Handler],
        *,
        consumer: str,
        max_attempts: int = 5,
        backoff_seconds: float = 2.0,
        max_backoff_seconds: float = 600.0,
        claim_idle_ms: int = 60_000,
        block_ms: int = 1_000,
        batch: int = 16,
        stale_consumer_ms: int = 3_600_000,
    ) -> None:
        self.valkey = valkey
        self.handlers = dict(handlers)
        self.consumer = consumer
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.batch = batch
        self.stale_consumer_ms = stale_consumer_ms
        self._release_due = valkey.register_script(_RELEASE_DUE)

    async def ensure_group(self) -> None:
        """Create the consumer group once, and forget consumers of workers long gone that hold nothing."""
        try:
            await self.valkey.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        for consumer in await self.valkey.xinfo_consumers(STREAM, GROUP):
            if (
                consumer["pending"] == 0
                and consumer["idle"] > self.stale_consumer_ms
                and consumer["name"] != self.consumer
            ):
                await self.valkey.xgroup_delconsumer(STREAM, GROUP, consumer["name"])

    async def step(self) -> int:
        """One round: release due retries, reclaim a dead worker's jobs, read new ones. Returns jobs run."""
        await self._release_due(keys=[DELAYED, STREAM], args=[time.time(), self.batch])
        _, claimed, _ = await self.valkey.xautoclaim(
            STREAM, GROUP, self.consumer, min_idle_time=self.claim_idle_ms, start_id="0-0", count=self.batch
        )
        # A reclaimed job's last try died with its worker, so it counts as a used attempt.
        jobs = [self._job(entry_id, fields, extra=1) for entry_id, fields in claimed if fields]
        if not jobs:
            read = await self.valkey.xreadgroup(
                GROUP, self.consumer, {STREAM: ">"}, count=self.batch, block=self.block_ms
            )
            jobs = [self._job(entry_id, fields) for _, entries in read for entry_id, fields in entries]
        # A batch runs concurrently: slow jobs (images) overlap, and each settles itself.
        await asyncio.gather(*(self._run(job) for job in jobs))
        return len(jobs)

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until ``stop``; a Valkey outage pauses the loop instead of ending the process."""
        log.info("worker started", extra={"consumer": self.consumer, "kinds": sorted(self.handlers)})
        pause = 0.5
        while not stop.is_set():
            try:
                await self.ensure_group()
                pause = 0.5
                while not stop.is_set():
                    await self.step()
            except (ValkeyConnectionError, ValkeyTimeoutError, OSError) as exc:
                log.warning("valkey unreachable; retrying", extra={"error": str(exc), "retry_in": pause})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
                pause = min(pause * 2, 10.0)

    @staticmethod
    def _job(entry_id: str, fields: dict[str, str], extra: int = 0) -> Job:
        payload = json.loads(fields.get("payload") or "{}")
        return Job(id=entry_id, kind=fields.get("kind", ""), payload=payload, attempt=int(fields["attempt"]) + extra)

    async def _run(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        if handler is None:
            await self._settle(job, f"no handler for job kind {job.kind!r}", retry=False)
            return
        if job.attempt > self.max_attempts:
            await self._settle(job, "attempts used up (worker died while running it)", retry=False)
            return
        try:
            await handler(job)
        except Exception as exc:
            log.warning("job failed", extra={"job": job.id, "kind": job.kind, "attempt": job.attempt}, exc_info=exc)
            await self._settle(job, f"{type(exc).__name__}: {exc}", retry=job.attempt < self.max_attempts)
            return
        async with self.valkey.pipeline(transaction=True) as pipe:
            pipe.xack(STREAM, GROUP, job.id)
            pipe.xdel(STREAM, job.id)
            await pipe.execute()

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.max_backoff_seconds)

    async def _settle(self, job: Job, error: str, *, retry: bool) -> None:
        """Ack the failed try and, in the same transaction, schedule the retry or park the job."""
        payload = json.dumps(job.payload)
        async with self.valkey.pipeline(transaction=True) as pipe:
            if retry:
                member = json.dumps(
                    {"origin": job.id, "kind": job.kind, "payload": payload, "attempt": job.attempt + 1}
                )
                pipe.zadd(DELAYED, {member: time.time() + self.backoff(job.attempt)})
            else:
                pipe.xadd(
                    DEAD,
                    {
                        "kind": job.kind,
                        "payload": payload,
                        "attempt": str(job.attempt),
                        "error": error[:500],
                        "origin": job.id,
                    },
                )
            pipe.xack(STREAM, GROUP, job.id)
            pipe.xdel(STREAM, job.id)
            await pipe.execute()
