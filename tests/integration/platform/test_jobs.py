"""Events and the job queue against real Postgres and Valkey: outbox, fan-out to listeners, lanes, retries,
time limits, dead letters, reclaim."""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable

import pytest
from valkey.asyncio import Valkey

from server.listeners import LISTENERS
from server.platform.events import Job, Lane, Listener, ListenerClash, Listeners, publish
from server.platform.jobs import DEAD, DELAYED, GROUP, STREAMS, DeadLetters, LaneLimits, OutboxRelay, Worker
from server.platform.tables import JobOutbox
from tests.services import Stack, free_port

FAST = STREAMS[Lane.FAST]


class Queue:
    """Publishing plus the relay, so a test can publish and put an event on the lanes in one step."""

    def __init__(self, valkey: Valkey, engine) -> None:
        self.valkey = valkey
        self.engine = engine

    def relay(self, listeners: Iterable[Listener]) -> OutboxRelay:
        return OutboxRelay(self.valkey, self.engine, Listeners(listeners))

    async def submit(self, event: str, payload: dict, listeners: Iterable[Listener]) -> None:
        await publish(event, payload)
        assert await self.relay(listeners).relay() == 1


@pytest.fixture
async def queue(valkey: Valkey, db) -> Queue:
    return Queue(valkey, db)


def worker(valkey: Valkey, listeners: Iterable[Listener], **options) -> Worker:
    defaults = {"consumer": "test", "backoff_seconds": 0.05, "block_ms": 50, "claim_idle_ms": 60_000}
    return Worker(valkey, list(listeners), **(defaults | options))


def on(event: str, run: Callable[[Job], Awaitable[None]], name: str | None = None, lane: Lane = Lane.FAST) -> Listener:
    return Listener(name or f"test.{run.__name__}", on=event, run=run, lane=lane)


async def drain(runner: Worker, until, rounds: int = 100) -> None:
    await runner.ensure_groups()
    for _ in range(rounds):
        await runner.step()
        await runner.settled()
        if await until():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the queue did not settle")


async def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(runner: Worker):
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


async def test_job_runs_once_and_leaves_nothing_pending(queue: Queue, valkey: Valkey):
    seen: list[Job] = []

    async def record(job: Job) -> None:
        seen.append(job)

    listeners = [on("test.recorded", record)]
    await queue.submit("test.recorded", {"n": 1}, listeners)
    await drain(worker(valkey, listeners), lambda: asyncio.sleep(0, bool(seen)))
    assert [(j.event, j.listener, j.payload, j.attempt) for j in seen] == [
        ("test.recorded", "test.record", {"n": 1}, 1)
    ]
    assert (await valkey.xpending(FAST, GROUP))["pending"] == 0
    assert await valkey.xlen(FAST) == 0


async def test_two_listeners_of_one_event_are_retried_on_their_own(queue: Queue, valkey: Valkey):
    flaky_attempts: list[int] = []
    steady_runs: list[Job] = []

    async def flaky(job: Job) -> None:
        flaky_attempts.append(job.attempt)
        if job.attempt < 3:
            raise ConnectionError("push provider refused")

    async def steady(job: Job) -> None:
        steady_runs.append(job)

    listeners = [on("test.matched", flaky), on("test.matched", steady)]
    await queue.submit("test.matched", {"match": 1}, listeners)
    await drain(worker(valkey, listeners), lambda: asyncio.sleep(0, len(flaky_attempts) == 3))
    assert flaky_attempts == [1, 2, 3]
    assert [(job.listener, job.attempt) for job in steady_runs] == [("test.steady", 1)]
    assert await valkey.zcard(DELAYED[Lane.FAST]) == 0 and await valkey.xlen(DEAD) == 0


def test_a_clash_of_listener_names_stops_the_worker_at_start_up(valkey: Valkey):
    async def one(job: Job) -> None: ...

    async def other(job: Job) -> None: ...

    clashing = [Listener("chat.deliver", on="a", run=one), Listener("chat.deliver", on="b", run=other)]
    with pytest.raises(ListenerClash, match=r"chat\.deliver"):
        Worker(valkey, clashing, consumer="test")


def test_the_wired_listeners_have_distinct_names_and_cover_every_job_the_app_publishes():
    wired = Listeners(LISTENERS)
    assert {"auth.email", "photos.process", "photos.purge"} <= {listener.on for listener in wired}
    assert wired.named("photos.make_variants").lane == Lane.HEAVY


async def test_failing_job_is_retried_with_backoff_then_succeeds(queue: Queue, valkey: Valkey):
    attempts: list[int] = []

    async def flaky(job: Job) -> None:
        attempts.append(job.attempt)
        if job.attempt < 3:
            raise ConnectionError("smtp relay refused")

    listeners = [on("test.flaky", flaky)]
    await queue.submit("test.flaky", {}, listeners)
    runner = worker(valkey, listeners)
    await drain(runner, lambda: asyncio.sleep(0, len(attempts) == 3))
    assert attempts == [1, 2, 3]
    assert await valkey.zcard(DELAYED[Lane.FAST]) == 0
    assert await valkey.xlen(DEAD) == 0
    assert runner.backoff(1) < runner.backoff(2) < runner.backoff(3)


async def test_job_that_keeps_failing_is_parked_in_dead_letters_and_only_its_listener_is_replayed(
    queue: Queue, valkey: Valkey
):
    calls = Counter()
    others: list[Job] = []

    async def broken(job: Job) -> None:
        calls[job.attempt] += 1
        raise ValueError("bad payload")

    async def fine(job: Job) -> None:
        others.append(job)

    await queue.submit("test.broken", {"id": "x"}, [on("test.broken", broken), on("test.broken", fine)])
    runner = worker(valkey, [on("test.broken", broken), on("test.broken", fine)], max_attempts=3)
    await drain(runner, lambda: valkey.xlen(DEAD))
    assert sorted(calls) == [1, 2, 3]
    [dead] = await DeadLetters(valkey).list()
    assert dead["event"] == "test.broken" and dead["listener"] == "test.broken"
    assert dead["attempt"] == "3" and "bad payload" in dead["error"]
    assert await valkey.xlen(FAST) == 0 and await valkey.zcard(DELAYED[Lane.FAST]) == 0

    assert await DeadLetters(valkey).replay(dead["id"])
    assert await valkey.xlen(DEAD) == 0
    fixed: list[Job] = []

    async def repaired(job: Job) -> None:
        fixed.append(job)

    await drain(
        worker(valkey, [on("test.broken", repaired, name="test.broken"), on("test.broken", fine)]),
        lambda: asyncio.sleep(0, bool(fixed)),
    )
    assert fixed[0].payload == {"id": "x"} and fixed[0].attempt == 1
    assert len(others) == 1, "the replay ran a listener that had already succeeded"


async def test_event_without_a_listener_is_kept_in_dead_letters_and_replayed_once_wired(queue: Queue, valkey: Valkey):
    await publish("nobody.listens", {"n": 1})
    assert await queue.relay([]).relay() == 1
    letters = DeadLetters(valkey)
    [dead] = await letters.list()
    assert dead["event"] == "nobody.listens" and dead["error"] == "no listener"

    seen: list[Job] = []

    async def late(job: Job) -> None:
        seen.append(job)

    assert await letters.replay(dead["id"])
    assert await queue.relay([on("nobody.listens", late)]).relay() == 1
    await drain(worker(valkey, [on("nobody.listens", late)]), lambda: asyncio.sleep(0, bool(seen)))
    assert seen[0].payload == {"n": 1} and await letters.count() == 0


async def test_entry_for_a_listener_no_longer_wired_goes_to_dead_letters(queue: Queue, valkey: Valkey):
    async def renamed(job: Job) -> None: ...

    await queue.submit("test.event", {}, [on("test.event", renamed, name="old.name")])
    await drain(worker(valkey, [on("test.event", renamed, name="new.name")]), lambda: valkey.xlen(DEAD))
    [dead] = await DeadLetters(valkey).list()
    assert "no listener named 'old.name'" in dead["error"]


async def test_dead_letters_are_bounded_and_counted_without_reading_them(queue: Queue, valkey: Valkey):
    letters = DeadLetters(valkey, keep=3)
    for n in range(5):
        async with valkey.pipeline(transaction=True) as pipe:
            letters.park(pipe, {"event": "test.x", "listener": "", "payload": str(n), "attempt": "1"})
            await pipe.execute()
    assert await letters.count() == 3
    assert [letter["payload"] for letter in await letters.list()] == ["2", "3", "4"]


async def test_a_hung_listener_is_abandoned_and_retried(queue: Queue, valkey: Valkey):
    attempts: list[int] = []

    async def hangs_once(job: Job) -> None:
        attempts.append(job.attempt)
        if job.attempt == 1:
            await asyncio.Event().wait()

    listeners = [on("test.hang", hangs_once)]
    await queue.submit("test.hang", {}, listeners)
    lanes = {Lane.FAST: LaneLimits(in_flight=4, time_limit_seconds=0.2)}
    await drain(worker(valkey, listeners, lanes=lanes), lambda: asyncio.sleep(0, attempts == [1, 2]))
    assert (await valkey.xpending(FAST, GROUP))["pending"] == 0 and await valkey.xlen(DEAD) == 0


async def test_a_fast_lane_job_completes_while_a_heavy_lane_listener_is_still_blocked(queue: Queue, valkey: Valkey):
    heavy_started, release = asyncio.Event(), asyncio.Event()
    sent: list[Job] = []

    async def make_variants(job: Job) -> None:
        heavy_started.set()
        await release.wait()

    async def notify(job: Job) -> None:
        sent.append(job)

    listeners = [on("test.uploaded", make_variants, lane=Lane.HEAVY), on("test.liked", notify)]
    lanes = {lane: LaneLimits(in_flight=1, time_limit_seconds=30) for lane in Lane}
    runner = worker(valkey, listeners, lanes=lanes)
    async with running(runner):
        await queue.submit("test.uploaded", {}, listeners)
        await eventually(heavy_started.is_set, "the heavy listener to start")
        await queue.submit("test.liked", {}, listeners)
        await eventually(lambda: bool(sent), "the notification to be sent")
        assert runner.lanes[Lane.HEAVY].running, "the heavy listener finished before the notification"
        release.set()


async def test_a_lane_runs_at_most_its_limit_and_takes_the_next_job_as_soon_as_a_slot_frees(
    queue: Queue, valkey: Valkey
):
    gates = {n: asyncio.Event() for n in range(4)}
    started: list[int] = []

    async def slow(job: Job) -> None:
        started.append(job.payload["n"])
        await gates[job.payload["n"]].wait()

    listeners = [on("test.slow", slow, lane=Lane.HEAVY)]
    runner = worker(valkey, listeners, lanes={Lane.HEAVY: LaneLimits(in_flight=2, time_limit_seconds=30)})
    async with running(runner):
        for n in range(4):
            await queue.submit("test.slow", {"n": n}, listeners)
        await eventually(lambda: len(started) == 2, "two jobs to start")
        await asyncio.sleep(0.2)
        assert sorted(started) == [0, 1], "more jobs ran at once than the lane allows"
        gates[started[0]].set()
        # The other one is still running: the lane does not wait for its whole batch to finish.
        await eventually(lambda: len(started) == 3, "the next job to start in the freed slot")
        for gate in gates.values():
            gate.set()
        await eventually(lambda: len(started) == 4, "every job to run")


async def test_job_held_by_a_dead_worker_is_reclaimed_by_another(queue: Queue, valkey: Valkey):
    done: list[Job] = []

    async def record(job: Job) -> None:
        done.append(job)

    listeners = [on("test.recorded", record)]
    await queue.submit("test.recorded", {"n": 7}, listeners)
    survivor = worker(valkey, listeners, consumer="survivor", claim_idle_ms=200)
    await survivor.ensure_groups()
    # A worker reads the job and dies before acking it.
    taken = await valkey.xreadgroup(GROUP, "crashed", {FAST: ">"}, count=1)
    assert taken and not done
    await survivor.step()
    assert not done, "a job is not taken from a worker that may still be running it"
    await asyncio.sleep(0.3)
    await drain(survivor, lambda: asyncio.sleep(0, bool(done)))
    assert done[0].payload == {"n": 7} and done[0].attempt == 2
    assert (await valkey.xpending(FAST, GROUP))["pending"] == 0


async def test_a_job_that_keeps_killing_its_worker_ends_in_dead_letters(queue: Queue, valkey: Valkey):
    attempts: list[int] = []

    async def kills_its_worker(job: Job) -> None:
        attempts.append(job.attempt)
        # Stands in for the process dying mid-run: nothing is settled, the entry stays pending for a reclaim.
        raise asyncio.CancelledError

    listeners = [on("test.fatal", kills_its_worker)]
    await queue.submit("test.fatal", {}, listeners)
    runner = worker(valkey, listeners, claim_idle_ms=100, max_attempts=3)
    await runner.ensure_groups()
    deadline = time.monotonic() + 10
    while not await valkey.xlen(DEAD):
        assert time.monotonic() < deadline, f"never dead-lettered; attempts so far {attempts}"
        await runner.step()
        await runner.settled()
        await asyncio.sleep(0.05)
    assert attempts == [1, 2, 3]
    [dead] = await DeadLetters(valkey).list()
    assert dead["listener"] == "test.kills_its_worker" and dead["attempt"] == "3" and "died" in dead["error"]
    assert await valkey.xlen(FAST) == 0 and (await valkey.xpending(FAST, GROUP))["pending"] == 0


async def test_a_worker_whose_job_was_reclaimed_neither_takes_it_back_nor_settles_it(queue: Queue, valkey: Valkey):
    attempts: list[int] = []
    first_gives_up, second_finishes = asyncio.Event(), asyncio.Event()

    async def stalls(job: Job) -> None:
        attempts.append(job.attempt)
        if job.attempt == 1:
            await first_gives_up.wait()
            raise ConnectionError("gave up long after the job was taken over")
        await second_finishes.wait()

    listeners = [on("test.stalls", stalls)]
    await queue.submit("test.stalls", {}, listeners)
    # The stalled worker's heartbeat (every 0.3 s) is slower than the other's reclaim time (0.1 s).
    stalled = worker(valkey, listeners, consumer="stalled", claim_idle_ms=900)
    fast_only = {Lane.FAST: LaneLimits(in_flight=4, time_limit_seconds=30)}
    other = worker(valkey, listeners, consumer="other", claim_idle_ms=100, lanes=fast_only)
    async with running(stalled):
        await eventually(lambda: attempts == [1], "the first try to start")
        await other.ensure_groups()
        deadline = time.monotonic() + 10
        while len(attempts) < 2:
            assert time.monotonic() < deadline, "the stalled job was never reclaimed"
            await other.step()
            await asyncio.sleep(0.03)
        await asyncio.sleep(0.5)  # the stalled worker's heartbeat fires meanwhile
        first_gives_up.set()
        await asyncio.sleep(0.3)
        second_finishes.set()
        await other.settled()
        await asyncio.sleep(0.5)  # time for a wrongly scheduled retry (backoff 0.05 s) to run
    assert attempts == [1, 2], "the job ran again after its reclaimed try succeeded"
    assert await valkey.zcard(DELAYED[Lane.FAST]) == 0 and await valkey.xlen(DEAD) == 0
    assert await valkey.xlen(FAST) == 0 and (await valkey.xpending(FAST, GROUP))["pending"] == 0


async def test_a_stopping_worker_finishes_its_jobs_keeps_them_claimed_and_takes_no_new_ones(
    queue: Queue, valkey: Valkey
):
    runs = Counter()
    release = asyncio.Event()

    async def long(job: Job) -> None:
        runs[job.payload["n"]] += 1
        if job.payload["n"] == 1:
            await release.wait()

    listeners = [on("test.long", long)]
    await queue.submit("test.long", {"n": 1}, listeners)
    stopping = worker(valkey, listeners, consumer="stopping", claim_idle_ms=300)
    other = worker(valkey, listeners, consumer="other", claim_idle_ms=300)
    stop = asyncio.Event()
    task = asyncio.create_task(stopping.run(stop))
    await eventually(lambda: runs[1] == 1, "the job to start")
    stop.set()
    await queue.submit("test.long", {"n": 2}, listeners)
    await other.ensure_groups()
    for _ in range(10):  # well past the reclaim time: the heartbeat goes on while the worker stops
        await asyncio.sleep(0.1)
        await other.step()
    assert not task.done(), "the worker stopped before its job finished"
    release.set()
    await asyncio.wait_for(task, timeout=15)
    await other.settled()
    assert runs == {1: 1, 2: 1}
    assert await valkey.xlen(FAST) == 0 and await valkey.xlen(DEAD) == 0


def test_supervisord_waits_for_the_longest_job_before_killing_a_stopping_worker(stack: Stack):
    program = configparser.ConfigParser(interpolation=None)
    program.read_string(stack.render("supervisor/worker.conf.j2"))
    limits = stack.settings.config.worker
    longest = max(limits.heavy_time_limit_seconds, limits.fast_time_limit_seconds)
    assert int(program["program:worker"]["stopwaitsecs"]) > longest


async def test_a_long_job_in_a_live_worker_is_not_reclaimed_by_another(queue: Queue, valkey: Valkey):
    runs = Counter()
    release = asyncio.Event()

    async def long(job: Job) -> None:
        runs[job.payload["n"]] += 1
        await release.wait()

    listeners = [on("test.long", long)]
    await queue.submit("test.long", {"n": 1}, listeners)
    # A full lane reads nothing more, so only the heartbeat can show that its worker is alive.
    full = {Lane.FAST: LaneLimits(in_flight=1, time_limit_seconds=30)}
    busy = worker(valkey, listeners, consumer="busy", claim_idle_ms=300, lanes=full)
    other = worker(valkey, listeners, consumer="other", claim_idle_ms=300)
    async with running(busy):
        await eventually(lambda: runs[1] == 1, "the job to start")
        await other.ensure_groups()
        for _ in range(10):  # well past the reclaim time: only the heartbeat keeps it with its worker
            await asyncio.sleep(0.1)
            await other.step()
        release.set()
    await other.settled()
    assert runs == {1: 1}


async def test_two_workers_share_the_queue_and_run_each_job_once(queue: Queue, valkey: Valkey):
    seen = Counter()

    async def record(job: Job) -> None:
        seen[job.payload["n"]] += 1
        await asyncio.sleep(0.001)

    listeners = [on("test.recorded", record)]
    for n in range(200):
        await queue.submit("test.recorded", {"n": n}, listeners)
    lanes = {Lane.FAST: LaneLimits(in_flight=5, time_limit_seconds=30)}
    first = worker(valkey, listeners, consumer="a", lanes=lanes)
    second = worker(valkey, listeners, consumer="b", lanes=lanes)
    async with running(first), running(second):
        await eventually(lambda: len(seen) == 200, "every job to run")
    assert set(seen.values()) == {1}


async def test_worker_waits_out_an_unreachable_valkey_instead_of_exiting():
    unreachable = Valkey(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(worker(unreachable, []).run(stop))
    await asyncio.sleep(1.0)
    assert not task.done(), "the worker loop ended while Valkey was away"
    stop.set()
    await asyncio.wait_for(task, timeout=15)
    await unreachable.aclose()


async def test_worker_outlives_its_consumer_group_vanishing(queue: Queue, valkey: Valkey):
    done: list[Job] = []

    async def record(job: Job) -> None:
        done.append(job)

    listeners = [on("test.recorded", record)]
    stop = asyncio.Event()
    runner = worker(valkey, listeners)
    task = asyncio.create_task(runner.run(stop))
    try:
        await eventually(lambda: bool(runner.lanes[Lane.FAST]._next_housekeeping), "the lane to start reading")
        # A flushed or restarted-without-data Valkey: every read now answers NOGROUP.
        await valkey.delete(FAST)
        await asyncio.sleep(0.3)
        await queue.submit("test.recorded", {"n": 8}, listeners)
        await eventually(lambda: bool(done) or task.done(), "the job to run")
        assert not task.done(), "a Valkey error ended the worker"
        assert done[0].payload == {"n": 8}
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


async def test_relay_waits_out_valkey_refusing_writes_and_relays_afterwards(queue: Queue, valkey: Valkey, db):
    async def record(job: Job) -> None: ...

    relay = OutboxRelay(valkey, db, Listeners([on("test.recorded", record)]), poll_seconds=0.1)
    [(_, maxmemory)] = (await valkey.config_get("maxmemory")).items()
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await valkey.config_set("maxmemory", 1)  # every write is now refused with OOM
        await publish("test.recorded", {"n": 9})
        await asyncio.sleep(0.5)
        assert not task.done(), "a refused write ended the relay"
        assert await JobOutbox.count() == 1
        await valkey.config_set("maxmemory", maxmemory)
        for _ in range(50):
            if await valkey.xlen(FAST):
                break
            await asyncio.sleep(0.05)
        assert await valkey.xlen(FAST) == 1 and await JobOutbox.count() == 0
    finally:
        await valkey.config_set("maxmemory", maxmemory)
        stop.set()
        await asyncio.wait_for(task, timeout=15)


async def test_event_published_in_a_rolled_back_transaction_never_runs(queue: Queue, db):
    async def record(job: Job) -> None: ...

    relay = queue.relay([on("test.recorded", record)])

    async def fails_after_publishing() -> None:
        async with db.transaction():
            await publish("test.recorded", {"n": 1})
            raise RuntimeError("the request failed after publishing")

    with pytest.raises(RuntimeError):
        await fails_after_publishing()
    assert await relay.relay() == 0
    async with db.transaction():
        await publish("test.recorded", {"n": 2})
    assert await relay.relay() == 1
    [(_, fields)] = await queue.valkey.xrange(FAST)
    assert fields["event"] == "test.recorded" and fields["payload"] == '{"n": 2}'


async def test_event_published_while_valkey_is_away_waits_in_postgres_and_is_relayed_later(queue: Queue, db):
    async def record(job: Job) -> None: ...

    listeners = Listeners([on("test.recorded", record)])
    await publish("test.recorded", {"n": 3})
    away = Valkey(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    with pytest.raises(Exception):
        await OutboxRelay(away, db, listeners).relay()
    await away.aclose()
    assert await JobOutbox.count() == 1
    assert await OutboxRelay(queue.valkey, db, listeners).relay() == 1
    assert await JobOutbox.count() == 0 and await queue.valkey.xlen(FAST) == 1


async def test_relay_is_woken_by_the_commit_not_by_its_poll(queue: Queue, db):
    async def record(job: Job) -> None: ...

    stop = asyncio.Event()
    relay = OutboxRelay(queue.valkey, db, Listeners([on("test.recorded", record)]), poll_seconds=30)
    task = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(0.3)
    await publish("test.recorded", {"n": 4})
    for _ in range(50):
        if await queue.valkey.xlen(FAST):
            break
        await asyncio.sleep(0.05)
    assert await queue.valkey.xlen(FAST) == 1, "NOTIFY did not wake the relay"
    stop.set()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_consumers_of_long_gone_workers_are_forgotten_but_not_ones_holding_jobs(queue: Queue, valkey: Valkey):
    async def record(job: Job) -> None: ...

    await queue.submit("test.recorded", {"n": 5}, [on("test.recorded", record)])
    runner = worker(valkey, [], consumer="current", stale_consumer_ms=10)
    await runner.ensure_groups()
    await valkey.xgroup_createconsumer(FAST, GROUP, "gone-idle")
    await valkey.xreadgroup(GROUP, "gone-holding", {FAST: ">"}, count=1)
    await asyncio.sleep(0.05)
    await runner.ensure_groups()
    names = {c["name"] for c in await valkey.xinfo_consumers(FAST, GROUP)}
    assert "gone-idle" not in names and "gone-holding" in names
