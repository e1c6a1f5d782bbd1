"""The clients of ``harvestctl bench chat``: processes of their own, each an asyncio loop holding its share of
WebSockets straight to the API workers' unix sockets, sending at a paced rate and keeping a ledger.

Every message is sent with a fresh ``clientId``; the sender notes when it first sent it and the acknowledgement
(message id, seq). Until the acknowledgement comes, it is sent again with the same ``clientId`` after a
reconnect, after a refusal's ``retryAfter``, or when the socket stays silent for ``ACK_TIMEOUT`` — the server's
idempotency is what makes that safe. A recipient notes every message it gets live, with the socket it came on.
After a reconnect, and when a live seq skips one, it asks REST for everything after the last seq it holds
without a gap, and notes what it recovered; once every sender is done, every recipient does that once more.
The ledgers go to files that ``server.manage bench-chat-figures`` checks against Postgres.

The two people of a pair are held by different client processes and first connect to different API workers,
so each message crosses processes and workers (through Valkey). A lost socket reconnects to the next worker.
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import random
import resource
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from harvestctl.errors import CliError

#: sockets one client process holds at most: a process may hold 20,000 descriptors on this host
SOCKETS_PER_PROCESS = 9_000
#: seconds a sent clientId waits for its acknowledgement on a live socket before it is sent again
ACK_TIMEOUT = 10.0
#: at the end, seconds without a live message before the final resync
QUIET_SECONDS = 2.0
#: handshakes (connect and auth) one client process has in flight at once
HANDSHAKES_AT_ONCE = 200
#: final resyncs one client process has in flight at once
RESYNCS_AT_ONCE = 50
#: 4401 answers in a row to one person's fresh token before the run gives up
MAX_REFUSALS = 5
#: seconds without a new acknowledgement before the run is declared stuck
STALL_SECONDS = 120.0
_URI = "ws://harvest/api/ws"


@dataclass(frozen=True)
class Talker:
    """One person of a pair, as the process holding their socket knows them."""

    id: str
    token: str
    match_id: str
    #: the messages this person sends
    quota: int
    #: the API worker their socket first connects to
    worker: int


@dataclass(frozen=True)
class Share:
    """What one client process does."""

    index: int
    workers: list[str]
    talkers: list[Talker]
    #: (id, token, first worker) of the people whose sockets only stay open
    idle: list[tuple[str, str, int]]
    #: messages per second this process sends
    rate: float
    ledger: Path


def plan(
    pairs: list[dict[str, Any]],
    idle: list[dict[str, str]],
    *,
    messages: int,
    rate: float,
    workers: list[str],
    folder: Path,
) -> list[Share]:
    """Split the pairs, the idle people and the messages over as many processes as the sockets need (two at least,
    so the two people of a pair are never in the same one)."""
    count = max(2, math.ceil((2 * len(pairs) + len(idle)) / SOCKETS_PER_PROCESS))
    talkers: list[list[Talker]] = [[] for _ in range(count)]
    for index, pair in enumerate(pairs):
        share = messages // len(pairs) + (1 if index < messages % len(pairs) else 0)
        for side, person in enumerate(pair["people"]):
            quota = (share + 1 - side) // 2  # the first person sends the odd one out
            talker = Talker(person["id"], person["accessToken"], pair["matchId"], quota, (index + side) % len(workers))
            talkers[(index + side) % count].append(talker)
    idlers: list[list[tuple[str, str, int]]] = [[] for _ in range(count)]
    for index, person in enumerate(idle):
        idlers[index % count].append((person["id"], person["accessToken"], index % len(workers)))
    return [
        Share(
            index=index,
            workers=workers,
            talkers=talkers[index],
            idle=idlers[index],
            rate=rate * sum(t.quota for t in talkers[index]) / max(messages, 1),
            ledger=folder / f"ledger-{index}.jsonl",
        )
        for index in range(count)
    ]


class Clients:
    """The client processes, and the parent's side of talking to them: commands out, reports back."""

    def __init__(self, shares: list[Share]) -> None:
        self.shares = shares
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []

    def __enter__(self) -> Clients:
        # Spawned, not forked: the parent may have threads (the progress display) that a fork would copy mid-step.
        context = multiprocessing.get_context("spawn")
        for share in self.shares:
            ours, theirs = context.Pipe()
            process = context.Process(target=_child, args=(share, theirs), name=f"bench-chat-{share.index}")
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)
        return self

    def __exit__(self, *_: object) -> None:
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()

    def command(self, what: str) -> None:
        for pipe in self.pipes:
            pipe.send(what)

    def gather(self, kind: str, timeout: float, progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        """Each process's report of ``kind``; ``progress`` is told the acknowledged total as it grows. A process
        that failed, died, or a run that stops moving for ``timeout`` seconds, is an error."""
        reports: dict[int, dict[str, Any]] = {}
        acked = [0] * len(self.pipes)
        moved = time.monotonic()
        while len(reports) < len(self.pipes):
            # A process that has answered may have ended since: its pipe then reads as closed.
            waiting = [i for i in range(len(self.pipes)) if i not in reports]
            ready = wait(
                [*(self.pipes[i] for i in waiting), *(self.processes[i].sentinel for i in waiting)], timeout=1.0
            )
            for pipe in (r for r in ready if isinstance(r, Connection)):
                index = self.pipes.index(pipe)
                try:
                    got, value = pipe.recv()
                except EOFError:
                    raise CliError(f"bench client {index} ended without a word", "run again with --verbose") from None
                if got == "failed":
                    raise CliError(f"bench client {index} failed: {value}", "see `harvestctl logs api`")
                if got == "progress":
                    if value > acked[index]:
                        moved = time.monotonic()
                    acked[index] = value
                    if progress:
                        progress(sum(acked))
                elif got == kind:
                    reports[index] = value
                    moved = time.monotonic()
            dead = [i for i in waiting if not self.processes[i].is_alive()]
            if dead and not any(self.pipes[i].poll() for i in dead):
                raise CliError(f"bench client {dead[0]} died", "run again with --verbose")
            if time.monotonic() - moved > timeout:
                raise CliError(
                    f"the bench stopped moving: no progress for {timeout:.0f}s while waiting for '{kind}'",
                    "see `harvestctl status` and `harvestctl logs api`",
                )
        return [reports[index] for index in range(len(self.pipes))]


def _child(share: Share, pipe: Connection) -> None:
    # Each socket is a descriptor: use all this process may have.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import uvloop

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_Client(share, pipe).main())
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which prints it
        pipe.send(("failed", f"{type(exc).__name__}: {exc}"))


@dataclass
class _Pending:
    """A clientId sent and not yet acknowledged."""

    content: str
    #: the connection it was last sent on (0: not sent yet), and when
    socket: int = 0
    sent: float = 0.0
    #: when a refused send may go again (monotonic), else None
    due: float | None = None


@dataclass
class _Peer:
    """One person's socket: held open, reconnected when it drops, and their side of the ledger."""

    client: _Client
    id: str
    token: str
    worker: int
    match_id: str | None = None
    quota: int = 0
    ws: ClientConnection | None = None
    #: connections made so far; the ledger names each receipt's connection by this count
    socket: int = 0
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    pending: dict[str, _Pending] = field(default_factory=dict)
    first_sent: dict[str, float] = field(default_factory=dict)
    #: seq → message id of everything held in the conversation (own and received), and the last seq with no gap
    seqs: dict[int, str] = field(default_factory=dict)
    contiguous: int = 0
    have: set[str] = field(default_factory=set)
    resync_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    gap_check: bool = False

    async def hold(self) -> None:
        # Reconnects wait a random part of a second, then of two, four… as apps do, so the sockets of a killed
        # worker do not all knock at once.
        spread, refusals = 0.0, 0
        while not self.client.closing:
            await asyncio.sleep(random.uniform(0, spread))  # noqa: S311 - jitter, not a secret
            try:
                ws = await self._open()
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else "none"
                self.client.counts[f"handshake closed {code}"] += 1
                # 4401 for a token known to be fresh is the server's auth deadline passing under load: try again,
                # but not for ever.
                refusals += code == 4401
                if refusals >= MAX_REFUSALS:
                    raise RuntimeError(f"the server refused a bench token {refusals} times (4401)") from None
                ws = None
            except (OSError, TimeoutError, InvalidHandshake):
                self.client.counts["handshake failed"] += 1
                ws = None
            if ws is not None:
                self.ws, self.socket, spread, refusals = ws, self.socket + 1, 1.0, 0
                self.opened.set()
                if self.socket > 1:
                    self.client.counts["reconnects"] += 1
                    if self.match_id:
                        self.client.spawn(self.recover())
                try:
                    async for raw in ws:
                        self.on_frame(raw)
                except ConnectionClosed as closed:
                    if not self.client.closing:
                        code = closed.rcvd.code if closed.rcvd else "none"
                        self.client.counts[f"closed {code}"] += 1
                finally:
                    self.ws = None
            else:
                spread = min(8.0, max(1.0, 2 * spread))
            # Any worker will do: the next one, so a killed worker's sockets spread over the others.
            self.worker = (self.worker + 1) % len(self.client.share.workers)

    async def _open(self) -> ClientConnection:
        async with self.client.handshakes:
            ws = await unix_connect(
                self.client.share.workers[self.worker],
                _URI,
                # Idle means idle: the server's pings keep the socket alive; no compression, as most apps send.
                ping_interval=None,
                compression=None,
                open_timeout=10,
                close_timeout=2,
            )
            try:
                await ws.send(json.dumps({"type": "auth", "data": {"token": self.token}}))
                ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
            except BaseException:
                ws.transport.abort()
                raise
            if ready.get("type") != "ready":
                ws.transport.abort()
                raise OSError(f"the server answered auth with {ready.get('type')}")
            return ws

    def on_frame(self, raw: str | bytes) -> None:
        now = time.time()
        frame = json.loads(raw)
        kind, data = frame.get("type"), frame.get("data") or {}
        if kind == "message_received":
            self.received(data["message"], now, live=True)
        elif kind == "message_ack":
            self.acked(data["clientId"], data["message"], now)
        elif kind == "error":
            self.refused(data)

    def received(self, message: dict[str, Any], now: float, live: bool) -> None:
        if message["senderId"] == self.id:
            self.hold_seq(message["seq"], message["id"])  # our own, seen on resync
            return
        new = message["id"] not in self.have
        if live or new:
            self.client.receipt(self.id, message["id"], message["matchId"], live, self.socket, now)
        self.have.add(message["id"])
        self.hold_seq(message["seq"], message["id"])
        if live and message["seq"] > self.contiguous + 1 and not self.gap_check:
            # Live copies of one conversation may pass each other; a gap still open a second later was lost.
            self.gap_check = True
            self.client.spawn(self._check_gap())

    async def _check_gap(self) -> None:
        await asyncio.sleep(1.0)
        self.gap_check = False
        if self.seqs and max(self.seqs) > self.contiguous:
            await self.resync()

    def acked(self, client_id: str, message: dict[str, Any], now: float) -> None:
        if self.pending.pop(client_id, None) is not None:
            self.client.acked += 1
            self.client.settled.set()
        sent_at = self.first_sent.get(client_id, now)
        self.client.ack(self.id, client_id, message["matchId"], message["id"], message["seq"], sent_at, now)
        self.hold_seq(message["seq"], message["id"])

    def refused(self, data: dict[str, Any]) -> None:
        problem = data.get("problem") or {}
        status = problem.get("status")
        self.client.counts[f"error {status}"] += 1
        pending = self.pending.get(data.get("clientId") or "")
        if pending is None:
            return
        if status in (404, 409, 422):
            # The server will never take it: count it and stop trying.
            del self.pending[data["clientId"]]
            self.client.counts["given up"] += 1
            self.client.settled.set()
            return
        pending.due = time.monotonic() + float(problem.get("retryAfter") or 1)

    def hold_seq(self, seq: int, message_id: str) -> None:
        self.seqs[seq] = message_id
        while self.contiguous + 1 in self.seqs:
            self.contiguous += 1

    async def send_new(self) -> None:
        client_id = uuid.uuid4().hex
        self.pending[client_id] = _Pending(content=f"bench message {client_id}")
        self.first_sent[client_id] = time.time()
        await self.transmit(client_id)

    async def transmit(self, client_id: str) -> None:
        pending, ws = self.pending.get(client_id), self.ws
        if pending is None or ws is None:
            return  # sent after the reconnect
        pending.socket, pending.sent, pending.due = self.socket, time.monotonic(), None
        frame = {"matchId": self.match_id, "clientId": client_id, "content": pending.content, "type": "text"}
        try:
            await ws.send(json.dumps({"type": "send_message", "data": frame}))
        except ConnectionClosed:
            pending.socket = 0

    async def recover(self) -> None:
        """After a reconnect: send again what was never acknowledged, then catch up."""
        for client_id, pending in list(self.pending.items()):
            if pending.socket != self.socket:
                self.client.counts["sent again after a reconnect"] += 1
                await self.transmit(client_id)
        await self.resync()

    async def overdue(self) -> None:
        now = time.monotonic()
        for client_id, pending in list(self.pending.items()):
            waited_out = pending.due is not None and now >= pending.due
            silent = pending.due is None and pending.socket == self.socket and now - pending.sent > ACK_TIMEOUT
            if self.ws is not None and (waited_out or silent):
                self.client.counts["sent again unanswered or refused"] += 1
                await self.transmit(client_id)

    async def resync(self) -> None:
        """Everything after the last seq held with no gap (all of it when nothing is held), over REST."""
        assert self.match_id is not None
        async with self.resync_lock:
            path = f"/api/chat/conversations/{self.match_id}/messages"
            params: dict[str, Any] = {"limit": 100}
            if self.contiguous:
                params["after"] = self.seqs[self.contiguous]
            items: list[dict[str, Any]] = []
            while True:
                page = await self.client.get(path, params, self)
                items += page["items"]
                if not page.get("nextCursor"):
                    break
                params = {"limit": 100, "cursor": page["nextCursor"]}
            now = time.time()
            for message in sorted(items, key=lambda m: m["seq"]):
                self.received(message, now, live=False)
            self.client.counts["resyncs"] += 1


class _Client:
    """One client process: its peers, its pacer, its ledger."""

    def __init__(self, share: Share, pipe: Connection) -> None:
        self.share, self.pipe = share, pipe
        self.closing = False
        self.acked = 0
        self.counts: Counter[str] = Counter()
        self.acks: list[list[Any]] = []
        self.receipts: list[list[Any]] = []
        #: set by each live copy received, and by each clientId that stops being pending
        self.live = asyncio.Event()
        self.settled = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.handshakes = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
        self.http = [
            httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=path), base_url="http://harvest", timeout=30)
            for path in share.workers
        ]
        self.talkers = [_Peer(self, t.id, t.token, t.worker, t.match_id, t.quota) for t in share.talkers]
        self.idle = [_Peer(self, person, token, worker) for person, token, worker in share.idle]

    def spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and not self.closing:
            self.pipe.send(("failed", f"{type(task.exception()).__name__}: {task.exception()}"))

    def ack(self, *fields: Any) -> None:
        self.acks.append(["ack", *fields])

    def receipt(self, *fields: Any) -> None:
        self.receipts.append(["receipt", *fields])
        if fields[3]:
            self.live.set()

    async def get(self, path: str, params: dict[str, Any], peer: _Peer) -> dict[str, Any]:
        """A GET to any worker that answers, waiting out refusals and restarts."""
        worker = peer.worker
        deadline = time.monotonic() + 120
        while True:
            try:
                answer = await self.http[worker].get(
                    path, params=params, headers={"Authorization": f"Bearer {peer.token}"}
                )
            except httpx.TransportError:
                worker = (worker + 1) % len(self.http)
                wait_for = 0.2
            else:
                if answer.status_code == 200:
                    page: dict[str, Any] = answer.json()
                    return page
                if answer.status_code not in (429, 500, 502, 503) or time.monotonic() > deadline:
                    raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.text[:200]}")
                self.counts[f"resync {answer.status_code}"] += 1
                wait_for = float(answer.headers.get("retry-after") or 0.5)
            await asyncio.sleep(wait_for)

    async def main(self) -> None:
        self.tell("opened", await self._open(self.talkers))
        await self._command("idle")
        self.tell("opened", await self._open(self.idle))
        await self._command("go")
        started = time.time()
        self.spawn(self._report())
        self.spawn(self._sweep())
        await self._pace()
        while any(peer.pending for peer in self.talkers):
            self.settled.clear()
            await self.settled.wait()
        self.tell("sent", {"started": started, "finished": time.time()})
        await self._command("finish")
        await self._finish()

    def tell(self, kind: str, value: Any) -> None:
        self.pipe.send((kind, value))

    async def _command(self, expected: str) -> None:
        got = await asyncio.to_thread(self.pipe.recv)
        if got != expected:
            raise RuntimeError(f"expected the command {expected!r}, got {got!r}")

    async def _open(self, peers: list[_Peer]) -> dict[str, Any]:
        started = time.monotonic()
        for peer in peers:
            self.spawn(peer.hold())
        await asyncio.wait_for(asyncio.gather(*(peer.opened.wait() for peer in peers)), timeout=300)
        return {"sockets": len(peers), "seconds": time.monotonic() - started}

    async def _pace(self) -> None:
        """Open loop: the n-th message goes at start + n / rate whatever the answers, the senders taking turns."""
        turns = deque(peer for peer in self.talkers if peer.quota)
        left = {peer.id: peer.quota for peer in turns}
        total = sum(left.values())
        started = time.monotonic()
        for n in range(total):
            delay = started + n / self.share.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            peer = turns.popleft()
            left[peer.id] -= 1
            if left[peer.id]:
                turns.append(peer)
            await peer.send_new()

    async def _report(self) -> None:
        while not self.closing:
            self.tell("progress", self.acked)
            await asyncio.sleep(0.5)

    async def _sweep(self) -> None:
        while not self.closing:
            await asyncio.sleep(0.5)
            for peer in self.talkers:
                if peer.pending:
                    await peer.overdue()

    async def _finish(self) -> None:
        """Let the last live copies arrive, resync every conversation once more, write the ledger, close."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.live.clear()
            try:
                await asyncio.wait_for(self.live.wait(), QUIET_SECONDS)
            except TimeoutError:
                break
        held = {"talkers": sum(1 for p in self.talkers if p.ws), "idle": sum(1 for p in self.idle if p.ws)}
        room = asyncio.Semaphore(RESYNCS_AT_ONCE)

        async def final(peer: _Peer) -> None:
            async with room:
                await peer.resync()

        await asyncio.gather(*(final(peer) for peer in self.talkers))
        with self.share.ledger.open("w") as out:
            for record in (*self.acks, *self.receipts):
                out.write(json.dumps(record) + "\n")
        self.closing = True
        open_sockets = [peer.ws for peer in (*self.talkers, *self.idle) if peer.ws is not None]
        await asyncio.wait_for(asyncio.gather(*(ws.close() for ws in open_sockets), return_exceptions=True), 60)
        for client in self.http:
            await client.aclose()
        unacked = sum(len(peer.pending) for peer in self.talkers)
        self.tell("done", {"held": held, "unacknowledged": unacked, "counts": dict(self.counts)})
