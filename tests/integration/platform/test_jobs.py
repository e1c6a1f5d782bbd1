"""The job queue against real Postgres and Valkey: outbox, delivery, retries, dead letters, reclaim."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import pytest
from valkey.asyncio import Valkey

from server.platform.jobs import DEAD, DELAYED, GROUP, STREAM, Job, JobQueue, OutboxRelay, Worker
from server.platform.tables import JobOutbox
from tests.services import free_port


class Queue(JobQueue):
    """The producer plus the relay, so a test can enqueue and publish in one step."""

    def __init__(self, valkey: Valkey, engine) -> None:
        super().__init__(valkey)
        self.relay = OutboxRelay(valkey, engine)

    async def submit(self, kind: str, payload: dict) -> None:
        await self.enqueue(kind, payload)
        assert await self.relay.relay() == 1


@pytest.fixture
async def queue(valkey: Valkey, db) -> Queue:
    return Queue(valkey, db)


def worker(valkey: Valkey, handlers, **options) -> Worker:
    defaults = {"consumer": "test", "backoff_seconds": 0.05, "block_ms": 50, "claim_idle_ms": 60_000}
    return Worker(valkey, handlers, **(defaults | options))


async def drain(runner: Worker, until, rounds: int = 100) -> None:
    await runner.ensure_group()
    for _ in range(rounds):
        await runner.step()
        if await until():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the queue did not settle")


async def test_job_runs_once_and_leaves_nothing_pending(queue: JobQueue, valkey: Valkey):
    seen: list[Job] = []

    async def record(job: Job) -> None:
        seen.append(job)

    await queue.submit("test.record", {"n": 1})
    runner = worker(valkey, {"test.record": record})
    await drain(runner, lambda: asyncio.sleep(0, bool(seen)))
    assert [(j.kind, j.payload, j.attempt) for j in seen] == [("test.record", {"n": 1}, 1)]
    assert (await valkey.xpending(STREAM, GROUP))["pending"] == 0
    assert await valkey.xlen(STREAM) == 0


async def test_failing_job_is_retried_with_backoff_then_succeeds(queue: JobQueue, valkey: Valkey):
    attempts: list[int] = []

    async def flaky(job: Job) -> None:
        attempts.append(job.attempt)
        if job.attempt < 3:
            raise ConnectionError("smtp relay refused")

    await queue.submit("test.flaky", {})
    runner = worker(valkey, {"test.flaky": flaky})
    await drain(runner, lambda: asyncio.sleep(0, len(attempts) == 3))
    assert attempts == [1, 2, 3]
    assert await valkey.zcard(DELAYED) == 0
    assert await valkey.xlen(DEAD) == 0
    assert runner.backoff(1) < runner.backoff(2) < runner.backoff(3)


async def test_job_that_keeps_failing_is_parked_in_dead_letters_and_can_be_replayed(queue: JobQueue, valkey: Valkey):
    calls = Counter()

    async def broken(job: Job) -> None:
        calls[job.attempt] += 1
        raise ValueError("bad payload")

    await queue.submit("test.broken", {"id": "x"})
    runner = worker(valkey, {"test.broken": broken}, max_attempts=3)
    await drain(runner, lambda: valkey.xlen(DEAD))
    assert sorted(calls) == [1, 2, 3]
    [dead] = await queue.dead_letters()
    assert dead["kind"] == "test.broken" and dead["attempt"] == "3" and "bad payload" in dead["error"]
    assert await valkey.xlen(STREAM) == 0 and await valkey.zcard(DELAYED) == 0

    await queue.replay(dead["id"])
    assert await valkey.xlen(DEAD) == 0
    fixed: list[Job] = []

    async def repaired(job: Job) -> None:
        fixed.append(job)

    await drain(worker(valkey, {"test.broken": repaired}), lambda: asyncio.sleep(0, bool(fixed)))
    assert fixed[0].payload == {"id": "x"} and fixed[0].attempt == 1


async def test_job_without_a_handler_goes_straight_to_dead_letters(queue: JobQueue, valkey: Valkey):
    await queue.submit("nobody.handles.this", {})
    await drain(worker(valkey, {}), lambda: valkey.xlen(DEAD))
    [dead] = await queue.dead_letters()
    assert "no handler" in dead["error"]


async def test_job_held_by_a_dead_worker_is_reclaimed_by_another(queue: JobQueue, valkey: Valkey):
    done: list[Job] = []

    async def record(job: Job) -> None:
        done.append(job)

    await queue.submit("test.record", {"n": 7})
    survivor = worker(valkey, {"test.record": record}, consumer="survivor", claim_idle_ms=200)
    await survivor.ensure_group()
    # A worker reads the job and dies before acking it.
    taken = await valkey.xreadgroup(GROUP, "crashed", {STREAM: ">"}, count=1)
    assert taken and not done
    await survivor.step()
    assert not done, "a job is not taken from a worker that may still be running it"
    await asyncio.sleep(0.3)
    await drain(survivor, lambda: asyncio.sleep(0, bool(done)))
    assert done[0].payload == {"n": 7} and done[0].attempt == 2
    assert (await valkey.xpending(STREAM, GROUP))["pending"] == 0


async def test_two_workers_share_the_queue_and_run_each_job_once(queue: JobQueue, valkey: Valkey):
    seen = Counter()

    async def record(job: Job) -> None:
        seen[job.payload["n"]] += 1
        await asyncio.sleep(0.001)

    for n in range(200):
        await queue.submit("test.record", {"n": n})
    first = worker(valkey, {"test.record": record}, consumer="a", batch=5)
    second = worker(valkey, {"test.record": record}, consumer="b", batch=5)
    await first.ensure_group()

    async def until_done() -> bool:
        return len(seen) == 200

    await asyncio.gather(drain(first, until_done, rounds=400), drain(second, until_done, rounds=400))
    assert set(seen.values()) == {1}


async def test_worker_waits_out_an_unreachable_valkey_instead_of_exiting():
    unreachable = Valkey(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    stop = asyncio.Event()
    running = asyncio.create_task(worker(unreachable, {}).run(stop))
    await asyncio.sleep(1.0)
    assert not running.done(), "the worker loop ended while Valkey was away"
    stop.set()
    await asyncio.wait_for(running, timeout=15)
    await unreachable.aclose()


async def test_job_enqueued_in_a_rolled_back_transaction_never_runs(queue: Queue, db):
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await queue.enqueue("test.record", {"n": 1})
            raise RuntimeError("the request failed after enqueueing")
    assert await queue.relay.relay() == 0
    async with db.transaction():
        await queue.enqueue("test.record", {"n": 2})
    assert await queue.relay.relay() == 1
    [(_, fields)] = await queue.valkey.xrange(STREAM)
    assert fields["kind"] == "test.record" and fields["payload"] == '{"n": 2}'


async def test_job_enqueued_while_valkey_is_away_waits_in_postgres_and_is_relayed_later(queue: Queue, db):
    await queue.enqueue("test.record", {"n": 3})
    away = Valkey(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    with pytest.raises(Exception):
        await OutboxRelay(away, db).relay()
    await away.aclose()
    assert await JobOutbox.count() == 1
    assert await queue.relay.relay() == 1
    assert await JobOutbox.count() == 0 and await queue.valkey.xlen(STREAM) == 1


async def test_relay_is_woken_by_the_commit_not_by_its_poll(queue: Queue, db):
    stop = asyncio.Event()
    relay = OutboxRelay(queue.valkey, db, poll_seconds=30)
    running = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(0.3)
    await queue.enqueue("test.record", {"n": 4})
    for _ in range(50):
        if await queue.valkey.xlen(STREAM):
            break
        await asyncio.sleep(0.05)
    assert await queue.valkey.xlen(STREAM) == 1, "NOTIFY did not wake the relay"
    stop.set()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


async def test_consumers_of_long_gone_workers_are_forgotten_but_not_ones_holding_jobs(queue: Queue, valkey: Valkey):
    await queue.submit("test.record", {"n": 5})
    runner = worker(valkey, {}, consumer="current", stale_consumer_ms=10)
    await runner.ensure_group()
    await valkey.xgroup_createconsumer(STREAM, GROUP, "gone-idle")
    await valkey.xreadgroup(GROUP, "gone-holding", {STREAM: ">"}, count=1)
    await asyncio.sleep(0.05)
    await runner.ensure_group()
    names = {c["name"] for c in await valkey.xinfo_consumers(STREAM, GROUP)}
    assert "gone-idle" not in names and "gone-holding" in names
