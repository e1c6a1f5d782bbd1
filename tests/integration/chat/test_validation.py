"""What a message may hold, and how a request that cannot be acted on is refused: 422 naming the field,
nothing stored."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.integration.chat.stored import assert_invalid, assert_problem, chat_rows
from tests.integration.chat.talk import CONVERSATIONS, messages, pairs, read, send
from tests.integration.matching.crowd import headers

#: a smiling face: one character, four bytes in UTF-8, two code units in UTF-16
EMOJI = "\U0001f600"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("", "empty"),
        ("   ", "spaces only"),
        ("\n\t \r\n", "line breaks and tabs only"),
        ("\u00a0\u3000", "no-break and ideographic spaces only"),
        ("\u200b\u2060\ufeff", "zero-width characters only"),
        ("\u200d \u200c", "joiners and a space only"),
        ("x" * 5001, "one character too many"),
        (EMOJI * 5001, "one emoji too many"),
        ("nul\x00here", "NUL"),
        ("bell\x07", "a bell"),
        ("esc\x1b[2J", "an escape sequence"),
        ("del\x7f", "DEL"),
        ("csi\x9b2J", "a C1 control (CSI)"),
        ("abc\u202edcba", "a right-to-left override"),
        ("\u2066isolated\u2069", "a bidi isolate"),
    ],
)
async def test_text_that_is_not_a_message_is_a_422_naming_content_and_nothing_is_stored(
    app: Litestar, client: httpx.AsyncClient, content: str, why: str
) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    before = await chat_rows(app)
    assert_invalid(await send(client, one, match_id, "c-1", content), "content")
    assert await chat_rows(app) == before, why


@pytest.mark.parametrize(
    "content",
    [
        "x" * 5000,
        EMOJI * 5000,
        "\U0001f469\u200d\U0001f469\u200d\U0001f467 family",
        "first line\nsecond\tcolumn\r\n",
        "\u05e9\u05dc\u05d5\u05dd and hello",
    ],
    ids=["5000-ascii", "5000-emoji", "zwj-sequence", "tabs-and-newlines", "mixed-direction"],
)
async def test_up_to_5000_characters_of_any_script_are_stored_as_sent(
    app: Litestar, client: httpx.AsyncClient, content: str
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    sent = await send(client, one, match_id, "c-1", content)
    assert sent.status_code == 201, sent.text
    [listed] = (await messages(client, other, match_id)).json()["items"]
    assert listed["content"] == content


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"clientId": "c" * 65}, "clientId"),
        ({"clientId": "has spaces"}, "clientId"),
        ({"clientId": ""}, "clientId"),
        ({"clientId": "caf\u00e9"}, "clientId"),
        ({"senderId": str(uuid.uuid4())}, "senderId"),
        ({"seq": 1}, "seq"),
        ({"type": "image"}, "photoId"),
        ({"type": "image", "photoId": "not-a-uuid"}, "photoId"),
        ({"photoId": str(uuid.uuid4())}, "photoId"),
        ({"type": "video"}, "type"),
        ({"content": 5}, "content"),
    ],
)
async def test_a_draft_that_breaks_the_contract_is_a_422_naming_the_field(
    app: Litestar, client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    before = await chat_rows(app)
    body = {"clientId": "c-1", "content": "hello", "type": "text"} | change
    response = await client.post(f"{CONVERSATIONS}/{match_id}/messages", json=body, headers=headers(one))
    assert_invalid(response, field)
    assert await chat_rows(app) == before


async def test_a_client_id_of_64_safe_characters_is_accepted(app: Litestar, client: httpx.AsyncClient) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    client_id = "A-z0._:" + "9" * 57
    sent = await send(client, one, match_id, client_id)
    assert sent.status_code == 201, sent.text
    assert sent.json()["clientId"] == client_id


async def test_a_lone_surrogate_is_refused_as_the_clients_mistake(app: Litestar, client: httpx.AsyncClient) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    before = await chat_rows(app)
    raw = b'{"clientId": "c-1", "content": "broken \\ud800 half", "type": "text"}'
    response = await client.post(
        f"{CONVERSATIONS}/{match_id}/messages",
        content=raw,
        headers=headers(one) | {"content-type": "application/json"},
    )
    assert_problem(response, 400)
    assert await chat_rows(app) == before


async def test_before_and_after_together_are_a_422(app: Litestar, client: httpx.AsyncClient) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    first = (await send(client, one, match_id, "c-1")).json()
    response = await messages(client, one, match_id, before=first["id"], after=first["id"])
    assert_invalid(response, "after")


@pytest.mark.parametrize("cursor", ["before", "after"])
async def test_a_cursor_message_id_that_is_not_a_uuid_is_a_422_naming_it(
    app: Litestar, client: httpx.AsyncClient, cursor: str
) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    assert_invalid(await messages(client, one, match_id, **{cursor: "last-one"}), cursor)


async def test_a_read_mark_that_is_not_a_uuid_or_missing_is_a_422_naming_it(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    url = f"{CONVERSATIONS}/{match_id}/read"
    assert_invalid(await client.put(url, json={"upToMessageId": "7"}, headers=headers(one)), "upToMessageId")
    assert_invalid(await client.put(url, json={}, headers=headers(one)), "upToMessageId")
    unknown = {"upToMessageId": str(uuid.uuid4()), "everything": True}
    assert_invalid(await client.put(url, json=unknown, headers=headers(one)), "everything")


@pytest.mark.parametrize("method", ["list", "send", "read"])
async def test_a_match_id_that_is_not_a_uuid_names_no_conversation_a_404(
    app: Litestar, client: httpx.AsyncClient, method: str
) -> None:
    [(one, _, _)] = await pairs(app, client)
    if method == "list":
        response = await messages(client, one, "not-a-match")
    elif method == "send":
        response = await send(client, one, "not-a-match", "c-1")
    else:
        response = await read(client, one, "not-a-match", str(uuid.uuid4()))
    assert_problem(response, 404)
