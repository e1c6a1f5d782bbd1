"""The per-person send limit: past it a 429 with Retry-After that stores nothing, and only for that person."""

from __future__ import annotations

import re

import httpx
import pytest
from litestar import Litestar

from server import settings as settings_module
from tests.integration.chat.stored import assert_problem, chat_rows
from tests.integration.chat.talk import pairs, send
from tests.services import Stack


@pytest.fixture
def three_sends_a_minute(stack: Stack, app: Litestar, monkeypatch: pytest.MonkeyPatch) -> None:
    """harvest.toml says `[chat] sends_per_minute = 3`, read by the one settings loader as an operator's edit
    would be; the running app is handed what it read."""
    config = stack.root / "etc/harvest/harvest.toml"
    original = config.read_text()
    # The test stack's [chat] table already sets the limit (high, for the other tests); a second [chat] table
    # would not be TOML, so the value is edited in place.
    edited_text, found = re.subn(r"(?m)^sends_per_minute = \d+$", "sends_per_minute = 3", original)
    assert found == 1, original
    config.write_text(edited_text)
    settings_module.current.cache_clear()
    try:
        edited = settings_module.current()
    finally:
        config.write_text(original)
        settings_module.current.cache_clear()
    assert edited.config.chat.sends_per_minute == 3
    monkeypatch.setattr(app.state, "settings", edited)


async def test_the_send_past_the_limit_is_a_429_with_retry_after_and_stores_nothing(
    app: Litestar, client: httpx.AsyncClient, three_sends_a_minute: None
) -> None:
    [(one, other, match_id), (third, fourth, elsewhere)] = await pairs(app, client, 2)
    for n in range(3):
        assert (await send(client, one, match_id, f"c-{n}")).status_code == 201
    before = await chat_rows(app)

    refused = await send(client, one, match_id, "c-3")

    assert_problem(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert await chat_rows(app) == before
    # Another person, in this conversation or another, still has all of theirs.
    for person, conversation in ((other, match_id), (third, elsewhere), (fourth, elsewhere)):
        for n in range(3):
            assert (await send(client, person, conversation, f"{person['user']['id']}-{n}")).status_code == 201


async def test_a_retry_of_a_stored_message_is_answered_past_the_limit(
    app: Litestar, client: httpx.AsyncClient, three_sends_a_minute: None
) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    first = await send(client, one, match_id, "kept")
    for n in range(2):
        assert (await send(client, one, match_id, f"c-{n}")).status_code == 201
    assert_problem(await send(client, one, match_id, "new-one"), 429)

    retried = await send(client, one, match_id, "kept")

    assert retried.status_code == 200 and retried.json() == first.json()
