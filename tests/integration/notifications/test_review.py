"""Findings of a review of the notifications: each test names a way a push or an email went wrong."""

from __future__ import annotations

import asyncio
import secrets

import httpx
from litestar import Litestar
from valkey.asyncio import Valkey

from server import settings as settings_module
from tests.factories import run_jobs
from tests.integration.chat.talk import send
from tests.integration.matching.crowd import crowd_in_one_cell, headers, matched
from tests.integration.notifications.test_push import PREFERENCES, with_devices
from tests.services import Stack


async def test_a_message_push_without_previews_shows_no_text_when_the_other_side_allows_them(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    (
        private,
        open_,
    ) = await crowd_in_one_cell(app, 2)
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
