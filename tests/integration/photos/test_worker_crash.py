"""A worker killed with SIGKILL in the middle of making variants loses no photo: the next worker
process takes the job over and finishes it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from server.platform.events import Lane
from server.platform.jobs import GROUP, STREAMS
from tests.factories import fetch, my_photos, register, uploaded
from tests.integration.photos import samples


def start_worker(log_path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "server.worker"], stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )


async def wait_until(check, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_killing_the_worker_mid_processing_loses_no_photo(client, db, valkey, stack, tmp_path):
    me = await register(client)
    for _ in range(4):
        await uploaded(client, me["accessToken"], samples.big_png())
    log = tmp_path / "worker.log"

    first = start_worker(log)
    try:

        async def holding_jobs() -> bool:
            try:
                return (await valkey.xpending(STREAMS[Lane.HEAVY], GROUP))["pending"] > 0
            except Exception:  # noqa: BLE001 - the group does not exist until the worker starts
                return False

        await wait_until(holding_jobs, "the worker to take the photo jobs")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    states = [photo["state"] for photo in await my_photos(client, me["accessToken"])]
    assert "processing" in states, f"the worker finished before it was killed: {states}"

    second = start_worker(log)
    try:

        async def all_done() -> bool:
            # Polled from the database: asking the API this often would meet the per-user rate limit.
            return {row["state"] for row in await db.pool.fetch("SELECT state FROM photos")} == {"approved"}

        await wait_until(all_done, f"the photos to be finished ({log.read_text()[-1500:]})", timeout=90)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    photos = await my_photos(client, me["accessToken"])
    assert len(photos) == 4 and all(photo["urls"] for photo in photos)
    for photo in photos:
        assert (await fetch(client, photo["urls"]["thumb"])).status_code == 200
