"""Findings of a review of the notifications: each test names a way a push or an email went wrong."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
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
