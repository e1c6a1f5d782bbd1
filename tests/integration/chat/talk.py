"""Helpers for chat tests: matched pairs made quickly, and the chat endpoints."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.integration.matching.crowd import crowd_in_one_cell, headers, matched

CONVERSATIONS = "/api/chat/conversations"


async def pairs(
    app: Litestar, client: httpx.AsyncClient, count: int = 1
) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    """``count`` matched pairs: (one, other, matchId) each."""
    people = await crowd_in_one_cell(app, 2 * count)
    made = []
    for one, other in zip(people[::2], people[1::2], strict=True):
        made.append((one, other, (await matched(client, one, other))["id"]))
    return made


async def send(
    client: httpx.AsyncClient,
    person: dict[str, Any],
    match_id: str,
    client_id: str,
    content: str = "hello",
    **more: Any,
) -> httpx.Response:
    body = {"clientId": client_id, "content": content, "type": "text"} | more
    return await client.post(f"{CONVERSATIONS}/{match_id}/messages", json=body, headers=headers(person))


async def messages(client: httpx.AsyncClient, person: dict[str, Any], match_id: str, **params: Any) -> httpx.Response:
    return await client.get(f"{CONVERSATIONS}/{match_id}/messages", params=params, headers=headers(person))


async def read(client: httpx.AsyncClient, person: dict[str, Any], match_id: str, message_id: str) -> httpx.Response:
    return await client.put(
        f"{CONVERSATIONS}/{match_id}/read", json={"upToMessageId": message_id}, headers=headers(person)
    )


async def conversations(client: httpx.AsyncClient, person: dict[str, Any], **params: Any) -> httpx.Response:
    return await client.get(CONVERSATIONS, params=params, headers=headers(person))
