"""Findings of a review of the notifications: each test names a way a push or an email went wrong."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import http.server
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
from aiosmtpd.controller import Controller as SMTPController
from litestar import Litestar
from valkey.asyncio import Valkey

from server import settings as settings_module
from server.notifications import providers
from server.notifications.dispatcher import Dispatcher
from server.notifications.email import compose
from server.notifications.providers.base import TIMEOUT, Push, Verdict
from server.notifications.providers.expo import Expo
from server.notifications.providers.fcm import Fcm
from server.platform.mail import Mailer
from tests.factories import run_jobs
from tests.integration.chat.talk import send
from tests.integration.matching.crowd import crowd_in_one_cell, headers, ids, matched
from tests.integration.notifications.test_email import digest_owed, named, prefer
from tests.integration.notifications.test_push import PREFERENCES, with_devices
from tests.services import Mailbox, Stack, free_port


async def test_a_message_push_without_previews_shows_no_text_when_the_other_side_allows_them(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    private, open_ = await crowd_in_one_cell(app, 2)
    registered: dict[str, dict[str, str]] = {}
    for name, person in (("private", private), ("open", open_)):
        registered[name] = await with_devices(client, person, {"fcm": (secrets.token_urlsafe(60), "android")})
    allowed = await client.put(PREFERENCES, json={"previews": True}, headers=headers(open_))
    assert allowed.status_code == 200, allowed.text
    match_id = (await matched(client, private, open_))["id"]
    await run_jobs(valkey, app.state.db)
    # They write to each other while neither has the app open: both pushes come due in the same batch.
    assert (await send(client, private, match_id, "p-1", content="my own words")).is_success
    assert (await send(client, open_, match_id, "o-1", content="their words")).is_success
    await run_jobs(valkey, app.state.db)
    await asyncio.sleep(settings_module.current().config.push.collapse_seconds + 0.2)
    await run_jobs(valkey, app.state.db)

    [to_private] = [
        p for p in stack.push.pushes_to(registered["private"]["fcm"]) if p.collapse_id.startswith("message:")
    ]
    assert to_private.body == "New message", "previews are off: the lock screen shows no message text"
    [to_open] = [p for p in stack.push.pushes_to(registered["open"]["fcm"]) if p.collapse_id.startswith("message:")]
    assert to_open.body == "my own words", "a preview shows what the other person wrote, not one's own words"


#: the providers' request timeout
TIMEOUT_SECONDS = TIMEOUT.read or 10.0


class SlowRelay(Mailbox):
    """An SMTP relay on loopback that takes a message's data and answers only once released."""

    def __init__(self) -> None:
        super().__init__()
        self.taking = threading.Event()
        self.released = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.taking.set()
        await asyncio.to_thread(self.released.wait, 30)
        return await super().handle_DATA(server, session, envelope)


@contextlib.contextmanager
def slow_relay() -> Iterator[tuple[SlowRelay, Mailer]]:
    """The relay, and a Mailer that sends through it."""
    relay = SlowRelay()
    server = SMTPController(relay, hostname="127.0.0.1", port=free_port(), ready_timeout=15)
    server.start()
    try:
        settings = settings_module.current()
        config = msgspec.structs.replace(
            settings.config, email=msgspec.structs.replace(settings.config.email, smtp_port=server.port)
        )
        yield relay, Mailer(msgspec.structs.replace(settings, config=config))
    finally:
        relay.released.set()
        server.stop()


async def test_what_happens_while_a_digest_is_being_sent_is_in_the_next_digest(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    reader, sam, kai = await crowd_in_one_cell(app, 3)
    for person, name in ((reader, "Rowan"), (sam, "Sam"), (kai, "Kai")):
        await named(app, person, name)
    await prefer(client, reader, {"match": "digest"})
    await matched(client, reader, sam)
    await run_jobs(valkey, app.state.db)
    first = await digest_owed(app, reader)
    await app.state.db.pool.execute("UPDATE notification_deliveries SET due_at = now() WHERE id = $1", first)

    settings = settings_module.current()
    with slow_relay() as (relay, mailer):
        dispatcher = Dispatcher(app.state.db, settings, providers.providers(settings), mailer)
        sending = asyncio.create_task(dispatcher.step())
        assert await asyncio.to_thread(relay.taking.wait, 30), "the digest reached the relay"
        # Kai matches while the relay is still taking the first digest, which was written before it.
        await matched(client, reader, kai)
        await run_jobs(valkey, app.state.db)
        relay.released.set()
        await sending
    [told] = relay.messages
    assert "Sam" in str(told.get_content()) and "Kai" not in str(told.get_content())

    second = await digest_owed(app, reader)
    assert second != first
    async with app.state.db.pool.acquire() as connection:
        letter = await compose(connection, second, uuid.UUID(ids(reader)), "digest")
    assert letter is not None and "1 new match with Kai" in letter.text, "the match during the send is told next"


@contextlib.contextmanager
def throttling_expo(retry_after: str) -> Iterator[Expo]:
    """An Expo client whose server, on loopback, answers every send 429 with this Retry-After."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(429)
            self.send_header("Retry-After", retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = settings_module.current()
        push = msgspec.structs.replace(settings.config.push, expo_url=f"http://127.0.0.1:{server.server_address[1]}")
        yield Expo(msgspec.structs.replace(settings, config=msgspec.structs.replace(settings.config, push=push)))
    finally:
        server.shutdown()


async def test_a_retry_after_past_any_sensible_wait_neither_stops_the_dispatcher_nor_parks_the_push_for_ever(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [person] = await crowd_in_one_cell(app, 1)
    await with_devices(client, person, {"expo": (f"ExponentPushToken[{secrets.token_urlsafe(16)}]", "android")})
    delivery = await app.state.db.pool.fetchval(
        "INSERT INTO notification_deliveries (id, user_id, channel, device_id, kind, topic, about)"
        " SELECT gen_random_uuid(), user_id, 'push', id, 'like', 'like:' || $2, $2::uuid FROM notification_devices"
        " WHERE user_id = $1 RETURNING id",
        uuid.UUID(ids(person)),
        str(uuid.uuid4()),
    )
    settings = settings_module.current()
    for absurd in ("99999999999999", "9" * 400, "Fri, 31 Dec 9999 23:59:59 GMT"):
        await app.state.db.pool.execute(
            "UPDATE notification_deliveries SET due_at = now(), state = 'pending' WHERE id = $1", delivery
        )
        with throttling_expo(absurd) as expo:
            dispatcher = Dispatcher(app.state.db, settings, {"expo": expo}, Mailer(settings))
            assert await dispatcher.step() >= 1
            await expo.aclose()
        row = await app.state.db.pool.fetchrow(
            "SELECT state, due_at FROM notification_deliveries WHERE id = $1", delivery
        )
        assert row["state"] == "pending", absurd
        horizon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=settings.config.push.give_up_hours)
        assert row["due_at"] <= horizon, f"Retry-After {absurd[:20]} parked the push past the give-up time"


async def test_an_email_whose_lease_ran_out_while_earlier_ones_were_sent_is_left_to_the_dispatcher_that_took_it(
    app: Litestar, client: httpx.AsyncClient, stack: Stack
) -> None:
    first, second = await crowd_in_one_cell(app, 2)
    for order, person in enumerate((first, second)):
        await app.state.db.pool.execute(
            "INSERT INTO notification_deliveries (id, user_id, channel, kind, topic, due_at)"
            " VALUES (gen_random_uuid(), $1, 'email', 'verify', 'verify', now() - $2 * interval '1 minute')",
            uuid.UUID(ids(person)),
            2 - order,
        )
    settings = settings_module.current()
    with slow_relay() as (relay, mailer):
        slow = Dispatcher(app.state.db, settings, {}, mailer)
        sending = asyncio.create_task(slow.step())
        assert await asyncio.to_thread(relay.taking.wait, 30), "the first email reached the slow relay"
        # The relay takes longer than a lease: another dispatcher takes over both emails and sends them.
        await asyncio.sleep(settings.config.worker.reclaim_after_seconds + 0.5)
        assert await Dispatcher(app.state.db, settings, {}, Mailer(settings)).step() >= 2
        relay.released.set()
        await sending
    address = second["user"]["email"]
    sent = stack.mailbox.to(address) + [message for message in relay.messages if message["To"] == address]
    assert len(sent) == 1, "the second email went out twice: once by each dispatcher"


async def test_a_preference_change_releases_what_quiet_hours_held_but_not_a_providers_backoff(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [person] = await crowd_in_one_cell(app, 1)
    await with_devices(client, person, {"fcm": (secrets.token_urlsafe(60), "android")})
    owed = {}
    for why, minutes in (("held for quiet hours", 120), ("fcm: HTTP 503", 10)):
        owed[why] = await app.state.db.pool.fetchval(
            "INSERT INTO notification_deliveries (id, user_id, channel, device_id, kind, topic, about, due_at, detail)"
            " SELECT gen_random_uuid(), user_id, 'push', id, 'like', 'like:' || $2, $2::uuid,"
            " now() + $3 * interval '1 minute', $4 FROM notification_devices WHERE user_id = $1 RETURNING id",
            uuid.UUID(ids(person)),
            str(uuid.uuid4()),
            minutes,
            why,
        )
    changed = await client.put(PREFERENCES, json={"previews": True}, headers=headers(person))
    assert changed.status_code == 200, changed.text

    due = {
        why: await app.state.db.pool.fetchval("SELECT due_at FROM notification_deliveries WHERE id = $1", delivery)
        for why, delivery in owed.items()
    }
    now = dt.datetime.now(dt.UTC)
    assert due["held for quiet hours"] <= now, "what quiet hours held is re-read at once"
    assert due["fcm: HTTP 503"] > now + dt.timedelta(minutes=5), "a provider's Retry-After still stands"


async def test_a_malformed_push_key_skips_its_provider_rather_than_stopping_the_dispatcher(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    settings = settings_module.current()
    broken = msgspec.structs.replace(
        settings,
        secrets=msgspec.structs.replace(
            settings.secrets,
            push=msgspec.structs.replace(
                settings.secrets.push, apns_key="-----BEGIN PRIVATE KEY-----\nnot a key", fcm_service_account="{}"
            ),
        ),
    )
    lacking = providers.missing(broken)
    assert "apns_key" in lacking["apns"] and "fcm_service_account" in lacking["fcm"], lacking
    built = providers.providers(broken)
    assert "apns" not in built and "fcm" not in built

    [person] = await crowd_in_one_cell(app, 1)
    await with_devices(client, person, {"apns": (secrets.token_hex(32), "ios")})
    delivery = await app.state.db.pool.fetchval(
        "INSERT INTO notification_deliveries (id, user_id, channel, device_id, kind, topic, about)"
        " SELECT gen_random_uuid(), user_id, 'push', id, 'like', 'like:' || $2, $2::uuid FROM notification_devices"
        " WHERE user_id = $1 RETURNING id",
        uuid.UUID(ids(person)),
        str(uuid.uuid4()),
    )
    dispatcher = Dispatcher(app.state.db, broken, built, Mailer(broken))
    assert await dispatcher.step() >= 1
    state = await app.state.db.pool.fetchval("SELECT state FROM notification_deliveries WHERE id = $1", delivery)
    assert state == "dropped"


async def test_sends_queued_behind_a_token_mint_that_timed_out_fail_with_it_rather_than_each_waiting_its_own(
    stack: Stack,
) -> None:
    class Silent(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            time.sleep(TIMEOUT_SECONDS + 3)  # a token endpoint that takes the request and never answers in time

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = settings_module.current()
    account = json.loads(settings.secrets.push.fcm_service_account) | {
        "token_uri": f"http://127.0.0.1:{server.server_address[1]}/token"
    }
    fcm = Fcm(
        msgspec.structs.replace(
            settings,
            secrets=msgspec.structs.replace(
                settings.secrets,
                push=msgspec.structs.replace(settings.secrets.push, fcm_service_account=json.dumps(account)),
            ),
        )
    )
    pushes = [Push(uuid.uuid4(), secrets.token_urlsafe(60), "t", "b", "c", "c", None, {}) for _ in range(Fcm.batch)]
    started = time.monotonic()
    try:
        outcomes = await fcm.send(pushes)
    finally:
        await fcm.aclose()
        server.shutdown()
    assert {outcome.verdict for outcome in outcomes} == {Verdict.RETRY}
    assert time.monotonic() - started < 3 * TIMEOUT_SECONDS, "one timed-out mint holds the batch up once, not per push"
