"""Faults on the live path: a reader that stalls, a client that floods, a worker killed mid-stream, an unmatch
with sockets open. None of them loses an acknowledged message or grows the server without bound."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
from litestar import Litestar
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close
from websockets.protocol import State
from websockets.uri import parse_uri

from server.chat import fanout
from server.platform.pubsub import person_channel
from tests.factories import run_jobs
from tests.integration.chat.live import ApiWorkers, Live
from tests.integration.chat.talk import messages, pairs

FLOOD_FRAMES = 10_000
FLOOD_FRAME_BYTES = 4_000


def _stalled_reader(path: str, token: str) -> tuple[socket.socket, ClientProtocol]:
    """A socket that authenticates, then never reads again: a phone whose app froze."""
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(path)
    protocol = ClientProtocol(parse_uri("ws://localhost/api/ws"))
    protocol.send_request(protocol.connect())
    raw.sendall(b"".join(protocol.data_to_send()))
    while protocol.state is not State.OPEN:
        protocol.receive_data(raw.recv(4096))
    protocol.send_text(json.dumps({"type": "auth", "data": {"token": token}}).encode())
    raw.sendall(b"".join(protocol.data_to_send()))
    return raw, protocol


def _close_code(raw: socket.socket, protocol: ClientProtocol) -> int | None:
    """Read what the server sent, to the end: the close frame's code, if it closed."""
    raw.settimeout(10)
    with contextlib.suppress(OSError):
        while chunk := raw.recv(1 << 20):
            protocol.receive_data(chunk)
            for event in protocol.events_received():
                if isinstance(event, Close):
                    return event.code
    return protocol.close_rcvd.code if protocol.close_rcvd else None


async def test_a_stalled_reader_is_dropped_and_memory_stays_flat(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: Any
) -> None:
    [(frozen, other, _)] = await pairs(app, app_client)
    bystander = await Live.open(workers, 0, other["accessToken"])
    raw, protocol = _stalled_reader(str(workers.sockets[0]), frozen["accessToken"])
    await asyncio.sleep(0.5)
    before = workers.rss_kb(0)
    channel = person_channel(frozen["user"]["id"])
    body = msgspec.json.encode(fanout.frame("message_received", {"message": {"content": "x" * FLOOD_FRAME_BYTES}}))
    for start in range(0, FLOOD_FRAMES, 500):
        async with valkey.pipeline(transaction=False) as pipe:
            for _ in range(min(500, FLOOD_FRAMES - start)):
                pipe.publish(channel, body)
            await pipe.execute()
    await asyncio.sleep(1)
    grown_mb = (workers.rss_kb(0) - before) / 1024
    assert grown_mb < 0.25 * FLOOD_FRAMES * FLOOD_FRAME_BYTES / 2**20, f"worker grew {grown_mb:.1f} MB"
    assert await asyncio.to_thread(_close_code, raw, protocol) == 1013
    raw.close()
    # The worker goes on serving everyone else.
    await bystander.say("ping")
    assert (await bystander.next("pong"))["type"] == "pong"
    await bystander.close()


async def test_a_client_that_floods_is_refused_then_closed(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(one, _, _)] = await pairs(app, app_client)
    live = await Live.open(workers, 1, one["accessToken"])
    for _ in range(400):
        with contextlib.suppress(ConnectionClosed):
            await live.say("ping")
    assert await live.closed_with() == 1008
    refused = [f for f in live.frames if f["type"] == "error"]
    assert refused and refused[0]["data"]["problem"]["status"] == 429


async def test_a_frame_over_the_size_limit_closes_1009(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    [(one, _, match_id)] = await pairs(app, app_client)
    live = await Live.open(workers, 0, one["accessToken"])
    limit = app.state.settings.config.chat.max_frame_kb * 1024
    with contextlib.suppress(ConnectionClosed):
        await live.say("send_message", matchId=match_id, clientId="big", content="x" * limit, type="text")
    assert await live.closed_with() == 1009
    assert await app.state.db.pool.fetchval("SELECT count(*) FROM chat_messages") == 0


async def test_an_unmatch_ends_the_conversation_on_open_sockets(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: Any, valkey: Any
) -> None:
    [(one, other, match_id)] = await pairs(app, app_client)
    leaving = await Live.open(workers, 0, one["accessToken"])
    left = await Live.open(workers, 1, other["accessToken"])
    await left.say("join_chat", matchId=match_id)
    await left.next("presence")
    response = await app_client.post(
        "/api/matches/unmatch", json={"matchId": match_id}, headers={"Authorization": f"Bearer {one['accessToken']}"}
    )
    assert response.status_code == 204
    await run_jobs(valkey, db)
    for live in (leaving, left):
        assert (await live.next("match_ended"))["data"] == {"matchId": match_id}
    await left.say("send_message", matchId=match_id, clientId="too-late", content="wait!", type="text")
    assert (await left.next("error"))["data"]["problem"]["status"] == 404
    await left.say("typing_start", matchId=match_id)
    assert (await left.next("error"))["data"]["problem"]["status"] == 404
    for live in (leaving, left):
        await live.close()


@dataclass
class Side:
    person: dict[str, Any]
    worker: int
    live: Live | None = None
    acked: dict[str, str] = field(default_factory=dict)
    received: list[str] = field(default_factory=list)
    by_seq: dict[int, str] = field(default_factory=dict)


async def _connect(workers: ApiWorkers, side: Side, alive: set[int]) -> Live:
    for worker in [side.worker, *sorted(alive)]:
        if worker in alive:
            with contextlib.suppress(OSError, ConnectionClosed, TimeoutError, AssertionError):
                side.worker = worker
                return await Live.open(workers, worker, side.person["accessToken"])
    raise AssertionError("no API worker accepted a socket")


@dataclass
class Progress:
    """Acknowledgements so far, and a signal once a third of ``total`` are in."""

    total: int
    acked: int = 0
    third: asyncio.Event = field(default_factory=asyncio.Event)

    def one_more(self) -> None:
        self.acked += 1
        if self.acked >= self.total // 3:
            self.third.set()


async def _converse(
    workers: ApiWorkers, sender: Side, match_id: str, *, count: int, alive: set[int], progress: Progress
) -> None:
    """Send ``count`` messages over the socket, resending whatever was not acknowledged after a reconnect."""
    pending = [f"{match_id[:8]}-{n}" for n in range(count)]
    while pending:
        sender.live = sender.live or await _connect(workers, sender, alive)
        try:
            for client_id in list(pending):
                await sender.live.say(
                    "send_message", matchId=match_id, clientId=client_id, content=client_id, type="text"
                )
                ack = await sender.live.next("message_ack", timeout=10, clientId=client_id)
                sender.acked[client_id] = ack["data"]["message"]["id"]
                pending.remove(client_id)
                progress.one_more()
        except (ConnectionClosed, OSError, TimeoutError):
            sender.live = None


async def _listen(workers: ApiWorkers, recipient: Side, alive: set[int], done: asyncio.Event) -> None:
    while not done.is_set():
        recipient.live = recipient.live or await _connect(workers, recipient, alive)
        try:
            frame = await recipient.live.next("message_received", timeout=0.5)
            message = frame["data"]["message"]
            recipient.received.append(message["id"])
            recipient.by_seq[message["seq"]] = message["id"]
        except TimeoutError:
            continue
        except (ConnectionClosed, OSError):
            recipient.live = None


async def _catch_up(client: httpx.AsyncClient, recipient: Side, match_id: str) -> list[str]:
    # From the end of the unbroken run 1, 2, 3…: a message missed while away leaves a gap in seq before later ones.
    held = 0
    while held + 1 in recipient.by_seq:
        held += 1
    last = recipient.by_seq[held] if held else None
    params: dict[str, Any] = {"limit": 100} | ({"after": last} if last else {})
    found: list[str] = []
    while True:
        page = (await messages(client, recipient.person, match_id, **params)).json()
        found += [m["id"] for m in page["items"] if m["senderId"] != recipient.person["user"]["id"]]
        if page["nextCursor"] is None:
            return found
        params = {"limit": 100, "cursor": page["nextCursor"]}


async def test_a_worker_killed_mid_stream_loses_no_acknowledged_message(
    app: Litestar, app_client: httpx.AsyncClient, workers: ApiWorkers, db: object, valkey: object
) -> None:
    made = await pairs(app, app_client, 10)
    per_pair, alive = 200, {0, 1}
    progress = Progress(total=per_pair * len(made))
    conversations = [
        (Side(one, worker=n % 2), Side(other, worker=(n + 1) % 2), match_id)
        for n, (one, other, match_id) in enumerate(made)
    ]
    done = asyncio.Event()
    listeners = [asyncio.create_task(_listen(workers, r, alive, done)) for _, r, _ in conversations]
    senders = [
        asyncio.create_task(_converse(workers, s, match_id, count=per_pair, alive=alive, progress=progress))
        for s, _, match_id in conversations
    ]
    await progress.third.wait()
    alive.discard(0)
    await asyncio.to_thread(workers.kill, 0)
    try:
        await asyncio.gather(*senders)
        await asyncio.sleep(1)
    finally:
        done.set()
        await asyncio.gather(*listeners, return_exceptions=True)
        await asyncio.to_thread(workers.start, 0)
    for sender, recipient, match_id in conversations:
        acked = set(sender.acked.values())
        assert len(acked) == per_pair
        assert len(recipient.received) == len(set(recipient.received)), "a message arrived twice live"
        recovered = set(await _catch_up(app_client, recipient, match_id)) - set(recipient.received)
        assert set(recipient.received) | recovered == acked
        for live in (sender.live, recipient.live):
            if live is not None:
                await live.close()
    stored = await app.state.db.pool.fetchval("SELECT count(*) FROM chat_messages")
    assert stored == progress.total
