"""``/api/ws``: one person's live connection — auth by first frame, their events in, frames out.

    client ──frames──► reader ──► chat service (Postgres first) ──► fanout ──► Valkey pub/sub
    client ◄──────── writer ◄── outbox (bounded) ◄── relay ◄── this process's one subscription connection

Each socket has three tasks and one bounded outbox. The writer is the only one that writes, so a reader that
stalls blocks only its own writer; once its outbox is full the socket is closed (1013), never buffered
without bound, and the app catches up over REST with ``?after=``. The same happens when live frames were
lost on the way (the process's pub/sub connection dropped: 1012). A frame is never acknowledged before
what it asked for is committed. Frames a client sends are handled one at a time, in order.

Close codes: 4401 no valid auth in time, or the token expired without a fresh ``auth``; 1008 the client kept
sending faster than allowed, opened sockets faster than its requests allow, or already holds
``SOCKETS_PER_PERSON``; 1009 a frame over ``[chat] max_frame_kb`` (uvicorn); 1012 live frames were lost;
1013 the client did not read its frames fast enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.datastructures import State
from litestar.di import NamedDependency
from valkey.exceptions import ValkeyError

from server.auth.tokens import Claims, TokenIssuer
from server.chat import fanout
from server.chat.presence import Renewals
from server.chat.schemas import Draft
from server.chat.service import ChatService
from server.errors import FieldError, HarvestError, Invalid, RateLimited, Unauthorized
from server.platform import database
from server.platform.pubsub import SESSION_ENDED, MessagesLost, PubSub, Subscription, person_channel, session_channel
from server.web.auth import auth_service
from server.web.problems import domain_response

log = logging.getLogger("harvest.chat.socket")

CLOSE_UNAUTHORIZED = 4401
CLOSE_POLICY = 1008
CLOSE_LOST = 1012
CLOSE_BEHIND = 1013
#: sockets one person may hold at once, over every process: a phone, a tablet and a browser or two, with room for
#: entries of sockets whose process died and have not lapsed yet. Each socket may cost the database a query for
#: most frames it sends, so one account must not multiply that by opening hundreds.
SOCKETS_PER_PERSON = 10

Chats = NamedDependency[ChatService]


class _Close(Exception):
    """End the socket with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Gone(Exception):
    """The client closed the socket, or it dropped."""


class ClientFrame(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    data: dict[str, Any] = {}


class Auth(msgspec.Struct, forbid_unknown_fields=True):
    token: str


class MatchRef(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    match_id: uuid.UUID


class MarkRead(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    match_id: uuid.UUID
    up_to_message_id: uuid.UUID


def _encode(sent: dict[str, Any]) -> str:
    return msgspec.json.encode(sent).decode()


#: msgspec names a field missing from, or unknown to, the object it checks in the message, not after "at `$.…`"
_FIELD_IN_MESSAGE = re.compile(r"(?:missing required|contains unknown) field `([^`]{1,40})`")


def _invalid(exc: msgspec.ValidationError) -> Invalid:
    """msgspec's "… - at `$.content`" (or "Object missing required field `matchId`") as the one error shape."""
    message, _, where = str(exc).partition(" - at `$.")
    named = _FIELD_IN_MESSAGE.search(message)
    field = where.rstrip("`").split(".")[0].split("[")[0] or (named.group(1) if named else "data")
    return Invalid(f"invalid value for {field}", errors=[FieldError(field, message)])


class _Bucket:
    """Frames a socket may send: ``rate`` a second on average, bursts of twice that."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.capacity = 2.0 * rate
        self.tokens = self.capacity
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Connection:
    def __init__(self, socket: WebSocket[Any, Any, Any], chats: ChatService, state: State) -> None:
        self.socket = socket
        self.chats = chats
        self.settings = chats.settings
        self.state = state
        self.pubsub: PubSub = state.pubsub
        self.id = uuid.uuid4().hex
        self.user_id = uuid.UUID(int=0)
        self.session_id = uuid.UUID(int=0)
        self.renewals: Renewals = state.renewals
        self.expires_at = 0.0
        self.renewed = asyncio.Event()
        self.handling = False
        self.closing = False
        self.outbox: asyncio.Queue[str] = asyncio.Queue(self.settings.send_buffer_frames)
        self.bucket = _Bucket(self.settings.frames_per_second)
        self.refused = 0
        #: the other person of each conversation this socket has used, checked once (a match_ended forgets it)
        self.partners: dict[uuid.UUID, uuid.UUID] = {}
        self.typing: dict[uuid.UUID, asyncio.TimerHandle] = {}
        self.typing_told: dict[uuid.UUID, float] = {}
        self.background: set[asyncio.Task[None]] = set()
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "auth": self._reauth,
            "join_chat": self._join,
            "send_message": self._send,
            "typing_start": self._typing_start,
            "typing_stop": self._typing_stop,
            "mark_read": self._mark_read,
            "ping": self._ping,
        }

    async def run(self) -> None:
        await self.socket.accept()
        try:
            claims = await self._first_auth()
            self.user_id, self.session_id, self.expires_at = claims.user_id, claims.session_id, claims.expires_at
            channels = (person_channel(self.user_id), session_channel(self.session_id))
            async with self.pubsub.subscribe(*channels) as subscription:
                await self._live(subscription)
        except _Close as close:
            await self._close(close.code, close.reason)
        except (TimeoutError, ValkeyError, OSError):
            await self._close(CLOSE_BEHIND, "live events are unavailable just now; reconnect in a moment")
        except _Gone:
            pass

    async def _live(self, subscription: Subscription) -> None:
        others = await self.chats.presence.renew(self.user_id, self.id)
        if others >= SOCKETS_PER_PERSON:
            await self.chats.presence.leave(self.user_id, self.id)
            raise _Close(CLOSE_POLICY, f"{SOCKETS_PER_PERSON} sockets are open for this account already; close one")
        self.renewals.add(self.user_id, self.id)
        self._queue(fanout.frame("ready", {"userId": self.user_id}))
        if others == 0:
            await self._announce(online=True)
        tasks = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._write()),
            asyncio.create_task(self._relay(subscription)),
            asyncio.create_task(self._keep()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            # A frame being handled is let finish (a send half-way through Postgres and Valkey is not cut off,
            # and a Valkey connection taken is given back); the other tasks only wait, and are cancelled.
            self.closing = True
            if self.handling:
                await asyncio.wait(tasks[:1], timeout=5)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._leave()

    async def _first_auth(self) -> Claims:
        text: str | None
        try:
            async with asyncio.timeout(self.settings.auth_seconds):
                text = await self._receive()
        except TimeoutError:
            text = await self._arrived_meanwhile()
        if text is None:
            raise _Close(CLOSE_UNAUTHORIZED, "send auth first, within a few seconds of connecting")
        try:
            sent = msgspec.json.decode(text, type=ClientFrame)
            if sent.type != "auth":
                raise _Close(CLOSE_UNAUTHORIZED, "the first frame must be auth")
            return await self._verify(msgspec.convert(sent.data, Auth).token)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise _Close(CLOSE_UNAUTHORIZED, 'send {"type": "auth", "data": {"token": "<accessToken>"}}') from None
        except Unauthorized as exc:
            raise _Close(CLOSE_UNAUTHORIZED, str(exc)[:120]) from None
        except RateLimited as exc:
            # Opening a socket counts as a request of its person; past their limit, a reason, not an internal error.
            raise _Close(CLOSE_POLICY, f"too many requests; open a socket again in {exc.retry_after} s") from None

    async def _arrived_meanwhile(self) -> str | None:
        """A frame that arrived in time while this process was too busy to read it (a storm of reconnects after
        a restart) still counts: the deadline is the client's, not the server's."""
        try:
            async with asyncio.timeout(0.2):
                return await self._receive()
        except TimeoutError:
            return None

    async def _verify(self, token: str) -> Claims:
        issuer: TokenIssuer = self.state.token_issuer
        claims = issuer.verify(token)
        await auth_service(self.state).admit(claims)
        return claims

    async def _receive(self) -> str:
        event = await self.socket.receive()
        if event["type"] == "websocket.disconnect":
            raise _Gone
        text = event.get("text")
        if text is None:
            raise _Close(CLOSE_POLICY, "frames are JSON text")
        return str(text)

    async def _read(self) -> None:
        while True:
            text = await self._receive()
            if not self.bucket.take():
                self.refused += 1
                if self.refused > self.settings.frames_per_second:
                    raise _Close(CLOSE_POLICY, "too many frames; slow down and reconnect")
                self._error(RateLimited("too many frames; slow down", retry_after=1), None)
                continue
            self.refused = 0
            self.handling = True
            try:
                await self._handle(text)
            finally:
                self.handling = False
            if self.closing:
                return

    async def _handle(self, text: str) -> None:
        client_id = None
        try:
            try:
                sent = msgspec.json.decode(text, type=ClientFrame)
            except msgspec.DecodeError:
                raise Invalid("a frame is a JSON object {type, data}") from None
            client_id = sent.data.get("clientId") if sent.type == "send_message" else None
            handler = self.handlers.get(sent.type)
            if handler is None:
                raise Invalid(f"unknown frame type {sent.type[:40]!r}", errors=[FieldError("type", "not a frame type")])
            await handler(sent.data)
        except msgspec.ValidationError as exc:
            self._error(_invalid(exc), client_id)
        except HarvestError as exc:
            self._error(exc, client_id)

    def _error(self, exc: HarvestError, client_id: Any) -> None:
        problem = domain_response(exc).content
        if isinstance(exc, RateLimited):
            problem["retryAfter"] = exc.retry_after
        data: dict[str, Any] = {"problem": problem}
        if isinstance(client_id, str):
            data["clientId"] = client_id
        self._queue(fanout.frame("error", data))

    def _queue(self, sent: dict[str, Any] | str) -> None:
        try:
            self.outbox.put_nowait(sent if isinstance(sent, str) else _encode(sent))
        except asyncio.QueueFull:
            raise _Close(
                CLOSE_BEHIND, "frames were not read fast enough; reconnect and catch up with ?after="
            ) from None

    async def _write(self) -> None:
        while True:
            await self.socket.send_text(await self.outbox.get())

    async def _relay(self, subscription: Subscription) -> None:
        try:
            async for message in subscription:
                data = message.data
                if f'"{fanout.ORIGIN}":' in data:
                    sent = msgspec.json.decode(data)
                    if sent.pop(fanout.ORIGIN) == self.id:
                        continue
                    data = _encode(sent)
                if data == SESSION_ENDED:
                    raise _Close(CLOSE_UNAUTHORIZED, "this login has ended; sign in again")
                if data.startswith('{"type":"match_ended"'):
                    self._forget(uuid.UUID(msgspec.json.decode(data)["data"]["matchId"]))
                self._queue(data)
        except MessagesLost:
            raise _Close(CLOSE_LOST, "live events were lost; reconnect and catch up with ?after=") from None

    async def _keep(self) -> None:
        """End the socket when its token expires without a fresh auth (presence is renewed by ``Renewals``)."""
        while (left := self.expires_at - time.time()) > 0:
            self.renewed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self.renewed.wait()
        raise _Close(CLOSE_UNAUTHORIZED, "the access token expired; send auth with a fresh one before it does")

    async def _reauth(self, data: dict[str, Any]) -> None:
        try:
            claims = await self._verify(msgspec.convert(data, Auth).token)
        except Unauthorized as exc:
            raise _Close(CLOSE_UNAUTHORIZED, str(exc)[:120]) from None
        if claims.user_id != self.user_id or claims.session_id != self.session_id:
            raise _Close(CLOSE_UNAUTHORIZED, "a socket stays with the login that opened it; reconnect to use another")
        self.expires_at = claims.expires_at
        self.renewed.set()
        self._queue(fanout.frame("ready", {"userId": self.user_id}))

    async def _partner(self, match_id: uuid.UUID) -> uuid.UUID:
        if match_id not in self.partners:
            self.partners[match_id] = (await self.chats.pair(self.user_id, match_id)).other
        return self.partners[match_id]

    async def _join(self, data: dict[str, Any]) -> None:
        """Check the conversation, and tell the socket whether the other person is online."""
        match_id = msgspec.convert(data, MatchRef).match_id
        self.partners.pop(match_id, None)
        other = await self._partner(match_id)
        online = other in await self.chats.presence.online([other])
        self._queue(fanout.frame("presence", {"userId": other, "online": online}))

    async def _send(self, data: dict[str, Any]) -> None:
        # The REST body plus the conversation: one definition of a message a client sends.
        match_id = msgspec.convert({"matchId": data.get("matchId")}, MatchRef).match_id
        draft = msgspec.convert({key: value for key, value in data.items() if key != "matchId"}, Draft)
        message, _ = await self.chats.send(
            self.user_id, match_id, draft, origin=self.id, recipient=self.partners.get(match_id)
        )
        self._queue(fanout.frame("message_ack", {"clientId": draft.client_id, "message": message}))
        if match_id in self.typing:
            await self._stop_typing(match_id)

    async def _typing_start(self, data: dict[str, Any]) -> None:
        """Tell the other person at most every half ``typing_seconds``; the indicator ends by itself."""
        match_id = msgspec.convert(data, MatchRef).match_id
        now = time.monotonic()
        if now - self.typing_told.get(match_id, -1e9) >= self.settings.typing_seconds / 2:
            # Checked afresh each time the other person is told: the match may have ended a moment ago, and its
            # match_ended reaches this socket only after the worker has run the event.
            self.partners.pop(match_id, None)
            other = await self._partner(match_id)
            self.typing_told[match_id] = now
            await self._tell([other], "user_typing", {"matchId": match_id, "userId": self.user_id})
        if match_id in self.typing:
            self.typing[match_id].cancel()
        self.typing[match_id] = asyncio.get_running_loop().call_later(
            self.settings.typing_seconds, lambda: self._in_background(self._stop_typing(match_id))
        )

    async def _typing_stop(self, data: dict[str, Any]) -> None:
        match_id = msgspec.convert(data, MatchRef).match_id
        if match_id in self.typing:
            await self._stop_typing(match_id)

    async def _stop_typing(self, match_id: uuid.UUID) -> None:
        handle = self.typing.pop(match_id, None)
        self.typing_told.pop(match_id, None)
        if handle is not None:
            handle.cancel()
        other = self.partners.get(match_id)
        if other is not None:
            await self._tell([other], "user_stopped_typing", {"matchId": match_id, "userId": self.user_id})

    async def _mark_read(self, data: dict[str, Any]) -> None:
        # Every socket of both people hears `message_read`, this one included: it is the answer.
        sent = msgspec.convert(data, MarkRead)
        await self.chats.read(self.user_id, sent.match_id, sent.up_to_message_id)

    async def _ping(self, _: dict[str, Any]) -> None:
        self._queue(fanout.frame("pong", {}))

    def _forget(self, match_id: uuid.UUID) -> None:
        self.partners.pop(match_id, None)
        self.typing_told.pop(match_id, None)
        handle = self.typing.pop(match_id, None)
        if handle is not None:
            handle.cancel()

    async def _tell(self, people: list[uuid.UUID], kind: str, data: dict[str, Any]) -> None:
        await fanout.deliver(self.chats.valkey, people, fanout.frame(kind, data))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _announce(self, online: bool) -> None:
        """Tell the person's matches, and only them, that they came online or went offline."""
        async with database.connection(self.chats.db) as connection:
            rows = await connection.fetch(
                "SELECT CASE WHEN user_a = $1 THEN user_b ELSE user_a END AS other FROM matches"
                " WHERE (user_a = $1 OR user_b = $1) AND ended_at IS NULL",
                self.user_id,
            )
        if rows:
            await self._tell([row["other"] for row in rows], "presence", {"userId": self.user_id, "online": online})

    async def _leave(self) -> None:
        self.renewals.discard(self.id)
        for match_id in list(self.typing):
            with contextlib.suppress(Exception):
                await self._stop_typing(match_id)
        try:
            if await self.chats.presence.leave(self.user_id, self.id):
                await self._announce(online=False)
        except (OSError, ValkeyError) as exc:
            log.warning("presence not updated on leaving; it lapses by itself", extra={"error": str(exc)})

    async def _close(self, code: int, reason: str) -> None:
        # A client that stopped reading cannot complete a close handshake: give it a moment, then let it go.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self.socket.close(code, reason)


@websocket("/api/ws")
async def gateway(socket: WebSocket[Any, Any, Any], chats: Chats) -> None:
    """The live connection of api.md's WebSocket section."""
    await Connection(socket, chats, socket.app.state).run()
