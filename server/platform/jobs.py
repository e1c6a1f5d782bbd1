"""The job queue: events in a Postgres outbox, fanned out onto one Valkey Stream per lane, one entry per listener.

    publish ──INSERT + NOTIFY──► job_outbox ──relay──► harvest:jobs:<lane> ──XREADGROUP──► lane ──ok──► XACK + XDEL
    (in the caller's transaction)  one entry per listener ▲   ▲                (≤ N in flight)│
                                                          │   └── XAUTOCLAIM ◄─────────────┤ worker died holding it
                                                          │                                │ failed or over time
                              harvest:jobs:<lane>:delayed ◄── ZADD (backoff) ──────────────┤ attempts left
                                                                                           └► harvest:jobs:dead (MAXLEN)

An event is committed with the transaction that caused it, so a crash of the API or the worker, or a
Valkey outage, delays it but never loses it. Each later move happens in one transaction (Postgres,
MULTI/EXEC or Lua), so an entry is never in two places nor in none. Once relayed, an entry lives only in
Valkey, which writes to disk once a second (``appendfsync everysec``): a power loss of the host can drop
the entries relayed or moved in its last second. A process crash or a Valkey restart loses nothing.
Delivery is at least once: a worker killed after a listener finished but before the ack runs that
listener again, so listeners are idempotent. A try that kills its worker counts as an attempt, so an
entry that keeps doing so ends in the dead letters too. Each lane keeps a bounded
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


# Takes over the entries of workers that stopped answering. Each goes back on the stream as a new entry
# with its attempt counted up (or, with none left, to the dead letters), and the old one leaves the pending
# list in the same step: its former worker then owns nothing it could refresh or settle.
_REQUEUE_ABANDONED = """
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', tonumber(ARGV[4]))
for _, entry in ipairs(claimed[2]) do
  local id, flat = entry[1], entry[2]
  local job = {}
  for i = 1, #flat, 2 do job[flat[i]] = flat[i + 1] end
  local tried = tonumber(job.attempt or '1')
  if tried >= tonumber(ARGV[5]) then
    redis.call('XADD', KEYS[2], 'MAXLEN', tonumber(ARGV[7]), '*', 'event', job.event or '', 'listener',
               job.listener or '', 'payload', job.payload or '{}', 'attempt', tostring(tried), 'lane', ARGV[6],
               'error', 'attempts used up (its worker died while running it)', 'origin', id)
  else
    redis.call('XADD', KEYS[1], '*', 'event', job.event or '', 'listener', job.listener or '', 'payload',
               job.payload or '{}', 'attempt', tostring(tried + 1))
  end
  redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('XDEL', KEYS[1], id)
end
return #claimed[2]
"""

# Resets the idle time of the entries this consumer still owns; one taken over meanwhile is left alone.
_HEARTBEAT = """
local kept = 0
for i = 3, #ARGV do
  if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2]) > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept = kept + 1
  end
end
return kept
"""

# Records a try's outcome (done, a retry to schedule, or a dead letter) only if this consumer still owns
# the entry: a worker whose entry was taken over must not ack or retry what another now runs.
_SETTLE = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2]) == 0 then
  return 0
end
if ARGV[4] == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
elseif ARGV[4] == 'park' then
  redis.call('XADD', KEYS[3], 'MAXLEN', tonumber(ARGV[5]), '*', unpack(cjson.decode(ARGV[6])))
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
return 1
"""

#: what Valkey can do to a worker short of a bug in it: be away, be slow, or refuse a command (out of
#: memory, a consumer group gone after a flush); each pauses the work and is retried, never fatal
VALKEY_TROUBLE = (ValkeyConnectionError, ValkeyTimeoutError, ResponseError, OSError)


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
            except (*VALKEY_TROUBLE, asyncpg.PostgresError) as exc:
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
        self._requeue_abandoned = self.valkey.register_script(_REQUEUE_ABANDONED)
        self._heartbeat_script = self.valkey.register_script(_HEARTBEAT)
        self._settle_script = self.valkey.register_script(_SETTLE)
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
        """Fill the free slots: due retries and a dead worker's entries first go back on the stream, then the
        oldest entries are read."""
        free = self.limits.in_flight - len(self.running)
        if free <= 0:
            return 0
        # Retries and reclaims need not be looked for on every entry taken; once per blocking read is prompt enough.
        if time.monotonic() >= self._next_housekeeping:
            self._next_housekeeping = time.monotonic() + self.worker.block_ms / 1000
            await self._release_due(keys=[self.delayed, self.stream], args=[time.time(), free])
            await self._requeue_abandoned(
                keys=[self.stream, DEAD],
                args=[
                    GROUP,
                    self.worker.consumer,
                    self.worker.claim_idle_ms,
                    free,
                    self.worker.max_attempts,
                    self.lane.value,
                    self.worker.dead_letters.keep,
                ],
            )
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
        """Loop until ``stop``, then finish what is in flight; Valkey trouble pauses the lane instead of
        ending the process."""
        # Beats until what is in flight has finished, so a stopping worker's jobs are not taken over.
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self._dispatch(stop)
        finally:
            await self.settled()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self) -> None:
        """Keep what runs here from looking abandoned: claiming an entry again resets its idle time, so only
        the entries of a worker that stopped answering are ever reclaimed, however long a listener may run."""
        while True:
            await asyncio.sleep(self.worker.claim_idle_ms / 3000)
            if self.running:
                try:
                    await self._heartbeat_script(keys=[self.stream], args=[GROUP, self.worker.consumer, *self.running])
                except VALKEY_TROUBLE as exc:
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
            except VALKEY_TROUBLE as exc:
                # The next round creates the consumer group again if a flush or a restart lost it.
                log.warning(
                    "valkey unavailable; retrying", extra={"lane": self.lane, "error": str(exc), "retry_in": pause}
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
                pause = min(pause * 2, 10.0)

    async def _run(self, job: Job) -> None:
        try:
            await self._attempt(job)
        except VALKEY_TROUBLE as exc:
            # Not acked: the entry stays pending and is reclaimed once Valkey is back.
            log.warning("job outcome not recorded", extra={"job": job.id, "listener": job.listener, "error": str(exc)})

    async def _attempt(self, job: Job) -> None:
        listener = self.worker.listeners.named(job.listener)
        if listener is None:
            await self._settle(job, f"no listener named {job.listener!r}", retry=False)
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
        await self._record(job, "done")

    async def _settle(self, job: Job, error: str, *, retry: bool) -> None:
        """Ack the failed try and, in the same step, schedule the retry or park the entry."""
        payload = json.dumps(job.payload)
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
            await self._record(job, "retry", time.time() + self.worker.backoff(job.attempt), member)
        else:
            fields = _entry(job.event, job.listener, payload, job.attempt)
            fields |= {"lane": self.lane.value, "error": error[:500], "origin": job.id}
            flat = [part for pair in fields.items() for part in pair]
            await self._record(job, "park", self.worker.dead_letters.keep, json.dumps(flat))

    async def _record(self, job: Job, outcome: str, *args: str | float | int) -> None:
        """Settle an entry this consumer still owns; one taken over by another worker is now that worker's."""
        owned = await self._settle_script(
            keys=[self.stream, self.delayed, DEAD], args=[GROUP, self.worker.consumer, job.id, outcome, *args]
        )
        if not owned:
            log.warning(
                "job taken over by another worker; its outcome here is dropped",
                extra={"job": job.id, "listener": job.listener, "outcome": outcome},
            )


def _job(entry_id: str, fields: dict[str, str]) -> Job:
    return Job(
        id=entry_id,
        event=fields.get("event", ""),
        listener=fields.get("listener", ""),
        payload=json.loads(fields.get("payload") or "{}"),
        attempt=int(fields.get("attempt", "1")),
    )
