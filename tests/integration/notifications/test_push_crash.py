"""A worker killed after a provider accepted a push but before it wrote that down: the one window in which a
device is sent a push twice. The second is the same push (same apns-id, same collapse id), so the phone shows it
in the first one's place; the other device of the same batch, whose answer was written, gets nothing again."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar

from tests.integration.matching.crowd import crowd_in_one_cell, ids, matched
from tests.integration.notifications.test_push import until, with_devices
from tests.services import Stack


def start_worker(log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "server.worker"], stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy()
        )


async def delivery(app: Litestar, person: dict[str, Any], provider: str) -> dict[str, Any]:
    row = await app.state.db.pool.fetchrow(
        "SELECT d.state, d.attempts FROM notification_deliveries d JOIN notification_devices v ON v.id = d.device_id"
        " WHERE d.user_id = $1 AND v.provider = $2",
        ids(person),
        provider,
    )
    return dict(row) if row else {}


async def test_a_worker_killed_mid_send_repeats_only_the_unrecorded_push_and_as_the_same_push(
    app: Litestar, client: httpx.AsyncClient, stack: Stack, tmp_path: Path
) -> None:
    one, other = await crowd_in_one_cell(app, 2)
    registered = await with_devices(
        client, other, {"apns": (secrets.token_hex(32), "ios"), "fcm": (secrets.token_urlsafe(60), "android")}
    )
    fakes = stack.push
    fakes.hold(1, "apns")
    await matched(client, one, other)
    log = tmp_path / "worker.log"

    first = start_worker(log)
    try:
        await until(lambda: _has(fakes.pushes_to(registered["apns"])), "APNs to take the push", 60)

        async def fcm_recorded() -> bool:
            return (await delivery(app, other, "fcm")).get("state") == "sent"

        await until(fcm_recorded, "the FCM push to be written down as sent", 30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
        fakes.release()
    assert (await delivery(app, other, "apns"))["state"] == "sending", "the APNs answer was never written"

    second = start_worker(log)
    try:

        async def apns_recorded() -> bool:
            return (await delivery(app, other, "apns")).get("state") == "sent"

        await until(apns_recorded, "the second worker to resend the APNs push", 60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    first_try, second_try = fakes.pushes_to(registered["apns"])
    assert first_try.headers["apns-id"] == second_try.headers["apns-id"]
    assert first_try.collapse_id == second_try.collapse_id and first_try.collapse_id.startswith("match:")
    assert (await delivery(app, other, "apns"))["attempts"] == 2
    assert len(fakes.pushes_to(registered["fcm"])) == 1, "a push whose answer was written is never sent again"
    assert (await delivery(app, other, "fcm"))["attempts"] == 1


async def _has(pushes: list[Any]) -> bool:
    return bool(pushes)
