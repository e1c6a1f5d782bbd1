"""Review: whatever a client puts in a frame, it gets an error in the one problem shape and keeps its socket."""

from __future__ import annotations

import json
from typing import Any

import httpx
from litestar import Litestar

from tests.integration.chat.live import ApiWorkers, Live
from tests.integration.chat.talk import pairs

M = "00000000-0000-4000-8000-000000000000"


def _frame(kind: Any, data: Any) -> str:
    return json.dumps({"type": kind, "data": data})


def _draft(**fields: Any) -> str:
    return _frame("send_message", {"matchId": M, "clientId": "c-1", "content": "x"} | fields)


#: frames that are not frames: the error names no field
NOT_FRAMES = [
    "[1]",
    "null",
    '"auth"',
    "{",
    _frame(5, {}),
    _frame("ping", None),
    _frame("send_message", 5),
    _frame("send_message", [1, 2]),
    json.dumps({"type": "ping", "data": {}, "more": 1}),
]
#: frames whose data is wrong, and the field the error names
WRONG_DATA = [
    (_frame("join_chat", {"matchId": {"a": [1, {"b": 2}]}}), "matchId"),
    (_frame("join_chat", {"matchId": 123}), "matchId"),
    (_frame("typing_start", {}), "matchId"),
    (_frame("typing_stop", {"matchId": M, "loud": True}), "loud"),
    (_draft(clientId=7), "clientId"),
    (_draft(clientId="a" * 5000), "clientId"),
    (_draft(content={"x": 1}), "content"),
    (_draft(content="a\u0000b"), "content"),
    (_draft(content="a\u202eb"), "content"),
    (_draft(content="x" * 5001), "content"),
    (_draft(type="video"), "type"),
    (_frame("mark_read", {"matchId": M, "upToMessageId": "nope"}), "upToMessageId"),
]


async def test_a_frame_of_the_wrong_shape_is_a_422_problem_naming_the_field_and_the_socket_goes_on(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(one, _, _)] = await pairs(app, app_client)
    live = await Live.open(workers, 0, one["accessToken"])
    for text, field in [(text, None) for text in NOT_FRAMES] + WRONG_DATA:
        await live.connection.send(text)
        problem = (await live.next("error"))["data"]["problem"]
        assert problem["status"] == 422 and problem["type"].startswith("urn:harvest:problem:"), (text, problem)
        if field is not None:
            assert field in {error["field"] for error in problem["errors"]}, (text, problem)
    await live.say("ping")
    await live.next("pong")
    await live.close()
    assert await app.state.db.pool.fetchval("SELECT count(*) FROM chat_messages") == 0


async def test_a_binary_frame_closes_1008(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(one, _, _)] = await pairs(app, app_client)
    live = await Live.open(workers, 1, one["accessToken"])
    await live.connection.send(b'{"type": "ping", "data": {}}')
    assert await live.closed_with() == 1008
