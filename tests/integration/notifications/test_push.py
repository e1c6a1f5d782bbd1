"""Pushes end to end: events through the outbox and the listeners to deliveries, and the dispatcher to the
providers, which the fixtures run as real servers on loopback speaking Expo's JSON API, FCM HTTP v1 (with its
OAuth token endpoint) and APNs over HTTP/2 with TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import secrets
import time
import zoneinfo
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from litestar import Litestar
from valkey.asyncio import Valkey

from server import settings as settings_module
from server.notifications import providers
from server.notifications.dispatcher import Dispatcher
from server.platform.mail import Mailer
from tests.factories import run_jobs
from tests.integration.chat.talk import send
from tests.integration.matching.crowd import crowd_in_one_cell, headers, ids, matched, swipe
from tests.services import Stack

DEVICES = "/api/users/devices"
PREFERENCES = "/api/notifications/preferences"


def tokens() -> dict[str, tuple[str, str]]:
    """One fresh token per provider, with the platform it is registered for."""
    return {
        "expo": (f"ExponentPushToken[{secrets.token_urlsafe(16)}]", "android"),
        "fcm": (secrets.token_urlsafe(60), "android"),
        "apns": (secrets.token_hex(32), "ios"),
    }


async def with_devices(
    client: httpx.AsyncClient, person: dict[str, Any], chosen: dict[str, tuple[str, str]]
) -> dict[str, str]:
    """Register the person's devices; provider → token."""
    for provider, (token, platform) in chosen.items():
        answer = await client.post(
            DEVICES, json={"token": token, "platform": platform, "provider": provider}, headers=headers(person)
        )
        assert answer.status_code == 201, answer.text
    return {provider: token for provider, (token, _) in chosen.items()}


async def deliveries(app: Litestar, person: dict[str, Any]) -> list[dict[str, Any]]:
    rows = await app.state.db.pool.fetch(
        "SELECT d.id, d.kind, d.state, d.attempts, d.due_at, d.detail, v.provider FROM notification_deliveries d"
        " LEFT JOIN notification_devices v ON v.id = d.device_id WHERE d.user_id = $1 AND d.channel = 'push'"
        " ORDER BY d.created_at",
        ids(person),
    )
    return [dict(row) for row in rows]


def dispatcher(app: Litestar) -> Dispatcher:
    settings = settings_module.current()
    return Dispatcher(app.state.db, settings, providers.providers(settings), Mailer(settings), poll_seconds=0.1)


async def until(check: Callable[[], Awaitable[bool]], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"still waiting after {seconds} s: {what}"
        await asyncio.sleep(0.2)


async def matched_pair(
    app: Litestar, client: httpx.AsyncClient, before: Callable[[dict[str, Any], dict[str, Any]], Awaitable[Any]]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Two people who match once ``before`` has set them up (devices, preferences)."""
    one, other = await crowd_in_one_cell(app, 2)
    await before(one, other)
    return one, other, (await matched(client, one, other))["id"]


async def test_a_match_is_one_push_per_device_through_each_provider(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    mine, theirs = tokens(), {"apns": (secrets.token_hex(32), "ios")}
    registered: dict[str, dict[str, str]] = {}

    async def set_up(one: dict[str, Any], other: dict[str, Any]) -> None:
        registered["one"] = await with_devices(client, one, mine)
        registered["other"] = await with_devices(client, other, theirs)

    one, other, match_id = await matched_pair(app, client, set_up)
    await run_jobs(valkey, app.state.db)
    await run_jobs(valkey, app.state.db)  # a second pass finds nothing more to send

    fakes = stack.push
    for provider, token in registered["one"].items():
        [push] = fakes.pushes_to(token)
        assert push.provider == provider
        assert push.title == "It's a match!" and other["user"]["firstName"] in push.body
        assert push.collapse_id == f"match:{match_id}"
    [theirs_push] = fakes.pushes_to(registered["other"]["apns"])
    assert theirs_push.http_version == "2"
    assert {row["state"] for row in await deliveries(app, one) + await deliveries(app, other)} == {"sent"}


async def test_a_token_the_provider_reports_gone_is_removed(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    chosen = tokens()
    stack.push.invalid.update(token for token, _ in chosen.values())

    async def set_up(one: dict[str, Any], other: dict[str, Any]) -> None:
        await with_devices(client, one, chosen)

    one, _, _ = await matched_pair(app, client, set_up)
    await run_jobs(valkey, app.state.db)

    assert (
        await app.state.db.pool.fetchval("SELECT count(*) FROM notification_devices WHERE user_id = $1", ids(one)) == 0
    )
    assert {row["state"] for row in await deliveries(app, one)} == {"dropped"}


async def test_a_burst_of_twenty_messages_is_one_push_with_its_count_and_no_content(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    chosen = {"apns": (secrets.token_hex(32), "ios")}
    registered: dict[str, str] = {}

    async def set_up(one: dict[str, Any], other: dict[str, Any]) -> None:
        registered.update(await with_devices(client, other, chosen))

    one, _, match_id = await matched_pair(app, client, set_up)
    await run_jobs(valkey, app.state.db)
    for n in range(20):
        assert (await send(client, one, match_id, f"burst-{n}", content=f"secret plan {n}")).status_code == 201
    await run_jobs(valkey, app.state.db)
    await asyncio.sleep(settings_module.current().config.push.collapse_seconds + 0.2)
    await run_jobs(valkey, app.state.db)

    messages = [push for push in stack.push.pushes_to(registered["apns"]) if push.collapse_id.startswith("message:")]
    assert len(messages) == 1, messages
    [push] = messages
    assert push.title == f"{one['user']['firstName']} (20)"
    assert push.body == "20 new messages"
    assert "secret plan" not in repr(push.raw)
    assert push.collapse_id == f"message:{match_id}" and push.thread_id == f"message:{match_id}"


async def test_previews_show_the_latest_message_only_to_those_who_allow_them(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    chosen = {"fcm": (secrets.token_urlsafe(60), "android")}
    registered: dict[str, str] = {}

    async def set_up(one: dict[str, Any], other: dict[str, Any]) -> None:
        registered.update(await with_devices(client, other, chosen))
        answer = await client.put(PREFERENCES, json={"previews": True}, headers=headers(other))
        assert answer.status_code == 200, answer.text

    one, _, match_id = await matched_pair(app, client, set_up)
    await run_jobs(valkey, app.state.db)
    await send(client, one, match_id, "preview-1", content="see you at the pier")
    await run_jobs(valkey, app.state.db)
    await asyncio.sleep(settings_module.current().config.push.collapse_seconds + 0.2)
    await run_jobs(valkey, app.state.db)

    [push] = [push for push in stack.push.pushes_to(registered["fcm"]) if push.collapse_id.startswith("message:")]
    assert push.body == "see you at the pier"


async def test_a_superlike_is_pushed_without_naming_the_liker(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    liker, liked = await crowd_in_one_cell(app, 2)
    registered = await with_devices(client, liked, {"expo": tokens()["expo"]})
    assert (await swipe(client, liker, liked, "superlike")).json()["matched"] is False
    await run_jobs(valkey, app.state.db)

    [push] = stack.push.pushes_to(registered["expo"])
    assert push.title == "Someone super liked you"
    assert ids(liker) not in repr(push.raw) and liker["user"]["firstName"] not in push.body


async def test_a_kind_turned_off_is_not_pushed(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    registered: dict[str, str] = {}

    async def set_up(one: dict[str, Any], other: dict[str, Any]) -> None:
        registered.update(await with_devices(client, one, {"apns": tokens()["apns"]}))
        await client.put(PREFERENCES, json={"kinds": {"match": "off"}}, headers=headers(one))

    one, _, _ = await matched_pair(app, client, set_up)
    await run_jobs(valkey, app.state.db)

    assert stack.push.pushes_to(registered["apns"]) == []
    assert await deliveries(app, one) == []
    notes = await client.get("/api/notifications", headers=headers(one))
    assert [note["kind"] for note in notes.json()["items"]] == ["match"], "still listed in the app"


def quiet_around_now(zone: str, minutes_left: int) -> dict[str, str]:
    """Quiet hours that began an hour ago and end ``minutes_left`` minutes from now (to the minute), in ``zone``."""
    now = dt.datetime.now(zoneinfo.ZoneInfo(zone))
    end = (now + dt.timedelta(minutes=minutes_left)).replace(second=0, microsecond=0)
    if end <= now + dt.timedelta(seconds=5):
        end += dt.timedelta(minutes=1)
    return {"start": (now - dt.timedelta(hours=1)).strftime("%H:%M"), "end": end.strftime("%H:%M")}


async def test_quiet_hours_hold_pushes_until_they_end_then_release_them(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    registered: dict[str, str] = {}
    zone = "Asia/Kolkata"  # a half-hour offset: the end is read in the person's zone, not UTC

    async def set_up(one: dict[str, Any], other: dict[str, Any]) -> None:
        registered.update(await with_devices(client, one, {"apns": tokens()["apns"]}))
        await client.put("/api/users/profile", json={"timeZone": zone}, headers=headers(one))
        quiet = await client.put(PREFERENCES, json={"quietHours": quiet_around_now(zone, 0)}, headers=headers(one))
        assert quiet.status_code == 200, quiet.text

    one, _, _ = await matched_pair(app, client, set_up)
    await run_jobs(valkey, app.state.db)

    [held] = await deliveries(app, one)
    assert held["state"] == "pending" and held["due_at"] > dt.datetime.now(dt.UTC), held
    assert held["due_at"].second == 0 and held["attempts"] == 0
    assert stack.push.pushes_to(registered["apns"]) == []

    running = dispatcher(app)
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    try:
        await until(lambda: _received(stack, registered["apns"]), "the held push after quiet hours", 75)
    finally:
        stop.set()
        await task
    [push] = stack.push.pushes_to(registered["apns"])
    assert push.at >= held["due_at"].timestamp() - 0.5


async def _received(stack: Stack, token: str) -> bool:
    return bool(stack.push.pushes_to(token))


async def test_ending_quiet_hours_early_releases_what_they_held(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    registered: dict[str, str] = {}

    async def set_up(one: dict[str, Any], other: dict[str, Any]) -> None:
        registered.update(await with_devices(client, one, {"fcm": tokens()["fcm"]}))
        await client.put(PREFERENCES, json={"quietHours": quiet_around_now("UTC", 120)}, headers=headers(one))

    one, _, _ = await matched_pair(app, client, set_up)
    await run_jobs(valkey, app.state.db)
    assert stack.push.pushes_to(registered["fcm"]) == []

    await client.put(PREFERENCES, json={"quietHours": None}, headers=headers(one))
    await run_jobs(valkey, app.state.db)
    assert len(stack.push.pushes_to(registered["fcm"])) == 1


async def test_a_provider_down_for_a_minute_delays_every_push_then_delivers_each_once(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    people = await crowd_in_one_cell(app, 8)
    registered = [await with_devices(client, person, {"expo": tokens()["expo"]}) for person in people]
    outage_ends = stack.push.outage("expo", seconds=60)
    for one, other in zip(people[::2], people[1::2], strict=True):
        await matched(client, one, other)
    await run_jobs(valkey, app.state.db)

    running = dispatcher(app)
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    try:
        for devices in registered:
            await until(lambda token=devices["expo"]: _received(stack, token), "every push after the outage", 120)
    finally:
        stop.set()
        await task
    for devices in registered:
        [push] = stack.push.pushes_to(devices["expo"])
        assert push.at >= outage_ends
    refused = stack.push.refused("expo")
    assert refused, "the dispatcher kept trying during the outage"
    # Retry-After: 1 was honoured: no push was tried again sooner than a second after it was refused.
    for earlier, later in itertools.pairwise(refused):
        if earlier.tokens & later.tokens:
            assert later.at - earlier.at >= 0.9
    rows = [row for person in people for row in await deliveries(app, person)]
    assert {row["state"] for row in rows} == {"sent"} and max(row["attempts"] for row in rows) > 1


async def test_a_device_expo_reports_gone_in_its_receipt_is_removed(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    chosen = {"expo": tokens()["expo"]}
    stack.push.invalid_in_receipts.add(chosen["expo"][0])

    async def set_up(one: dict[str, Any], other: dict[str, Any]) -> None:
        await with_devices(client, one, chosen)

    one, _, _ = await matched_pair(app, client, set_up)
    await run_jobs(valkey, app.state.db)
    [sent] = await deliveries(app, one)
    assert sent["state"] == "sent", "the ticket was ok: the push counts as sent"

    assert await dispatcher(app).check_receipts() >= 1
    assert (
        await app.state.db.pool.fetchval("SELECT count(*) FROM notification_devices WHERE user_id = $1", ids(one)) == 0
    )
    receipt = await app.state.db.pool.fetchval(
        "SELECT receipt FROM notification_deliveries WHERE user_id = $1", ids(one)
    )
    assert receipt is None, "a receipt is asked for once"


class _Confused:
    """A provider client that meets an answer it cannot read: its send raises."""

    name, batch = "apns", 10

    async def send(self, pushes: Any) -> list[Any]:
        raise TypeError("details was a dict")

    async def aclose(self) -> None:
        return None


async def test_a_provider_answer_the_client_cannot_read_puts_its_pushes_back_and_the_worker_goes_on(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    registered: dict[str, str] = {}

    async def set_up(one: dict[str, Any], other: dict[str, Any]) -> None:
        registered.update(await with_devices(client, one, {"apns": tokens()["apns"]}))

    one, _, _ = await matched_pair(app, client, set_up)
    settings = settings_module.current()
    confused = Dispatcher(app.state.db, settings, {"apns": _Confused()}, Mailer(settings))
    await run_jobs(valkey, app.state.db)  # notes the match; the real dispatcher may send it first
    await app.state.db.pool.execute(
        "UPDATE notification_deliveries SET state = 'pending', due_at = now() WHERE user_id = $1", ids(one)
    )
    assert await confused.step() >= 1
    [row] = await deliveries(app, one)
    assert row["state"] == "pending" and row["detail"] == "unexpected answer"
