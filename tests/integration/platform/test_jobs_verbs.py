"""The operator's queue verbs against real Valkey and Postgres: ``python -m server.manage jobs-…`` and
``harvestctl jobs list|show|retry|purge`` listing, showing, replaying and purging real dead letters."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from valkey.asyncio import Valkey

from server.platform.events import Job, Lane, publish
from server.platform.jobs import DEAD, DELAYED, STREAMS
from server.platform.tables import JobOutbox
from tests.factories import manage
from tests.integration.platform.test_jobs import Queue, drain, on, worker
from tests.services import Stack

FAST = STREAMS[Lane.FAST]


@pytest.fixture
async def queue(valkey: Valkey, db) -> Queue:
    return Queue(valkey, db)


async def broken(job: Job) -> None:
    raise ValueError(f"bad payload {job.payload}")


async def waiting(job: Job) -> None: ...


def answer(*args: str) -> Any:
    done = manage(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def dead_letters(queue: Queue, valkey: Valkey) -> None:
    """One letter whose listener failed its only attempt, then one for an event nothing listens to."""
    await queue.submit("test.broken", {"id": "x"}, [on("test.broken", broken)])
    await drain(worker(valkey, [on("test.broken", broken)], max_attempts=1), lambda: valkey.xlen(DEAD))
    await publish("nobody.listens", {"n": 1})
    assert await queue.relay([]).relay() == 1


async def test_list_shows_each_lane_the_retries_and_the_dead_letters_and_show_gives_one_whole(
    queue: Queue, valkey: Valkey
):
    await queue.submit("test.flaky", {"id": "y"}, [on("test.flaky", broken)])
    flaky = worker(valkey, [on("test.flaky", broken)], max_attempts=3, backoff_seconds=600)
    await drain(flaky, lambda: valkey.zcard(DELAYED[Lane.FAST]))
    await dead_letters(queue, valkey)
    await queue.submit("test.waiting", {"id": "z"}, [on("test.waiting", waiting)])

    report = answer("jobs-list")
    assert {"lane": "fast", "queued": 1, "inFlight": 0, "retrying": 1} in report["lanes"]
    assert {"lane": "heavy", "queued": 0, "inFlight": 0, "retrying": 0} in report["lanes"]
    [retrying] = report["retrying"]
    assert retrying["event"] == "test.flaky" and retrying["attempt"] == 2 and retrying["state"] == "retrying"
    assert report["deadCount"] == 2
    failed, unheard = report["dead"]
    assert failed["event"] == "test.broken" and failed["listener"] == "test.broken" and failed["attempt"] == 1
    assert failed["error"] == "ValueError: bad payload {'id': 'x'}" and failed["at"].startswith("20")
    assert unheard["event"] == "nobody.listens" and unheard["listener"] == "" and unheard["error"] == "no listener"
    assert "payload" not in failed and "payload" not in retrying

    whole = answer("jobs-show", failed["id"])
    assert whole["state"] == "dead" and whole["payload"] == {"id": "x"} and whole["error"] == failed["error"]
    assert answer("jobs-show", retrying["id"])["payload"] == {"id": "y"}
    [(queued_id, _)] = await valkey.xrange(FAST)
    queued = answer("jobs-show", queued_id)
    assert queued["state"] == "queued" and queued["event"] == "test.waiting" and queued["payload"] == {"id": "z"}
    assert answer("jobs-list", "--limit", "1")["dead"] == [failed]


@pytest.mark.parametrize("job_id", ["1-0", "not-an-id"])
async def test_an_unknown_id_is_refused_in_one_line(valkey: Valkey, job_id: str):
    for verb in ("jobs-show", "jobs-retry"):
        done = manage(verb, job_id)
        assert done.returncode == 4 and job_id in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


async def test_retry_puts_a_dead_letter_back_on_its_lane_with_a_fresh_attempt(queue: Queue, valkey: Valkey, db):
    await dead_letters(queue, valkey)
    failed, unheard = answer("jobs-list")["dead"]

    assert answer("jobs-retry", failed["id"]) == {"retried": [failed["id"]], "deadCount": 1}
    [(_, entry)] = await valkey.xrange(FAST)
    assert (
        entry["listener"] == "test.broken" and entry["attempt"] == "1" and json.loads(entry["payload"]) == {"id": "x"}
    )

    # A letter for an event with no listener goes back through the outbox, to whatever listens now.
    assert answer("jobs-retry", "--all-dead") == {"retried": [unheard["id"]], "deadCount": 0}
    assert await JobOutbox.count().where(JobOutbox.kind == "nobody.listens") == 1
    assert manage("jobs-retry").returncode == 4


async def test_purge_deletes_all_dead_letters_or_only_the_older_ones(queue: Queue, valkey: Valkey):
    # A letter parked long ago (stream ids start with the milliseconds they were written at), then two now.
    await valkey.xadd(DEAD, {"event": "old", "listener": "", "payload": "{}", "attempt": "1"}, id="1000-0")
    await dead_letters(queue, valkey)

    assert answer("jobs-purge", "--older-than", "1d") == {"purged": 1, "deadCount": 2}
    assert answer("jobs-purge", "--older-than", "2w") == {"purged": 0, "deadCount": 2}
    assert manage("jobs-purge", "--older-than", "soon").returncode == 4
    assert answer("jobs-purge") == {"purged": 2, "deadCount": 0}


def harvestctl(stack: Stack, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from harvestctl.main import run; run()", "--root", str(stack.root), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_harvestctl_jobs_verbs(stack: Stack, queue: Queue, valkey: Valkey):
    await dead_letters(queue, valkey)
    listed = harvestctl(stack, "jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    failed, _ = json.loads(listed.stdout)["dead"]
    table = harvestctl(stack, "jobs", "list")
    assert "Dead letters" in table.stdout and "test.broken" in table.stdout and "2 dead letter(s)" in table.stderr

    shown = harvestctl(stack, "--json", "jobs", "show", failed["id"])
    assert json.loads(shown.stdout)["payload"] == {"id": "x"}

    unknown = harvestctl(stack, "jobs", "show", "1-0")
    assert unknown.returncode != 0 and "no job 1-0" in unknown.stderr and "jobs list" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    refused = harvestctl(stack, "jobs", "purge", stdin="n\n")
    assert refused.returncode != 0 and await valkey.xlen(DEAD) == 2
    purged = harvestctl(stack, "jobs", "purge", "--yes", "--json")
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout) == {"purged": 2, "deadCount": 0}

    retried = harvestctl(stack, "jobs", "retry")
    assert retried.returncode == 64 and "--all-dead" in retried.stderr
