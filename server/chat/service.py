"""Messages between the two people of a standing match: sending, reading, and the conversation list.

A message is stored before anyone is told of it. Sending takes the conversation's row lock, so messages of one
conversation get their ``seq`` (1, 2, 3…) in the order they commit, and the other person's unread count moves
with each message and each read in the same transaction — the list never counts. A retry with the same
``clientId`` is the same message: the unique key (sender, clientId) makes a second insert roll back, and the
first is answered. Only then, after the commit, is the message published to both people's sockets; a
recipient with no socket online gets a ``chat.message_waiting`` event in the transaction instead, which
the notifications machinery turns into a push.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

from server.chat import fanout
from server.chat.presence import Presence, count_online
from server.chat.schemas import (
    ChatPhoto,
    Conversation,
    ConversationList,
    Draft,
    MessageList,
    MessageView,
    ReadState,
)
from server.errors import Conflict, FieldError, Invalid, NotFound, RateLimited
from server.moderation import measures
from server.photos.media import MediaSigner
from server.photos.schemas import PhotoUrls
from server.platform import database
from server.platform.events import publish
from server.platform.ratelimit import RateLimiter
from server.profiles.service import ProfileService
from server.settings import ChatSection
from server.web.pagination import PageRequest

#: a message stored for someone with no socket online: what a push notification is made from
MESSAGE_WAITING = "chat.message_waiting"

_MESSAGE_COLUMNS = (
    "m.id, m.match_id, m.seq, m.sender, m.client_id, m.type, m.content, m.created_at,"
    " p.id AS photo_id, p.width, p.height, p.blurhash"
)
#: The message, numbered under the conversation's row lock, with the other person's unread count moved by one:
#: one statement, run after ``standing_pair`` has locked the match. The time is read under that lock too, not at
#: the transaction's start (now()): a send that began first but waited for the lock would otherwise be stamped
#: before the message numbered ahead of it; greatest() keeps the order even if the host's clock steps back.
#: No row back means the (sender, clientId) was taken: the caller rolls back, and the number with it.
_STORE = """
WITH pair AS (SELECT id, user_a, user_b FROM matches WHERE id = $1),
conversation AS (
    INSERT INTO chat_conversations AS c (match_id, user_a, user_b, last_seq, last_message_id, last_message_at,
        unread_a, unread_b)
    SELECT id, user_a, user_b, 1, $3, clock_timestamp(), (user_b = $2)::int, (user_a = $2)::int FROM pair
    ON CONFLICT (match_id) DO UPDATE SET last_seq = c.last_seq + 1, last_message_id = $3,
        last_message_at = greatest(c.last_message_at, clock_timestamp()),
        unread_a = c.unread_a + excluded.unread_a, unread_b = c.unread_b + excluded.unread_b
    RETURNING last_seq, last_message_at
)
INSERT INTO chat_messages (id, match_id, seq, sender, client_id, type, content, photo_id, created_at)
SELECT $3, $1, last_seq, $2, $4, $5, $6, $7, last_message_at FROM conversation
ON CONFLICT (sender, client_id) DO NOTHING RETURNING seq, created_at
"""
_MESSAGES = f"SELECT {_MESSAGE_COLUMNS} FROM chat_messages m LEFT JOIN chat_photos p ON p.id = m.photo_id"


@dataclass(frozen=True)
class Pair:
    """A standing match as one of its two people sees it."""

    match_id: uuid.UUID
    me: uuid.UUID
    other: uuid.UUID
    #: "a" or "b": which side's columns of chat_conversations are the caller's
    side: str

    @property
    def other_side(self) -> str:
        return "b" if self.side == "a" else "a"


class _Repeated(Exception):
    """The (sender, clientId) was taken by a message committed first: roll back and answer that one."""


async def standing_pair(connection: asyncpg.Connection, user_id: uuid.UUID, match_id: uuid.UUID, lock: bool) -> Pair:
    """The caller's standing match, or 404 (nobody else learns whether it exists). ``lock`` holds it against an
    unmatch until the transaction ends, so nothing is sent into a conversation that has just ended."""
    row = await connection.fetchrow(
        "SELECT user_a, user_b FROM matches WHERE id = $1 AND ended_at IS NULL AND (user_a = $2 OR user_b = $2)"
        + (" FOR SHARE" if lock else ""),
        match_id,
        user_id,
    )
    if row is None:
        raise NotFound("no such conversation")
    side = "a" if row["user_a"] == user_id else "b"
    return Pair(match_id, user_id, row["user_b"] if side == "a" else row["user_a"], side)


class ChatService:
    def __init__(
        self,
        db: PostgresEngine,
        valkey: Valkey,
        profiles: ProfileService,
        signer: MediaSigner,
        settings: ChatSection,
    ) -> None:
        self.db = db
        self.valkey = valkey
        self.profiles = profiles
        self.signer = signer
        self.settings = settings
        self.presence = Presence(valkey, settings.presence_seconds)
        self.limiter = RateLimiter(valkey)

    async def pair(self, user_id: uuid.UUID, match_id: uuid.UUID) -> Pair:
        async with database.connection(self.db) as connection:
            return await standing_pair(connection, user_id, match_id, lock=False)

    async def send(
        self,
        user_id: uuid.UUID,
        match_id: uuid.UUID,
        draft: Draft,
        *,
        origin: str | None = None,
        recipient: uuid.UUID | None = None,
    ) -> tuple[MessageView, bool]:
        """Store a message and tell both people's sockets (``origin``, the socket that sent it, excepted).
        Returns the message and whether it is new (False: a retry, answered with the first message).
        ``recipient``, the other person when the caller knows already, lets the send limit and whether they are
        online be read in one round trip."""
        _check_draft(draft)
        also = [count_online(recipient)] if recipient else []
        try:
            replies = await self.limiter.hit("chat-send", str(user_id), self.settings.sends_per_minute, 60, also=also)
        except RateLimited:
            # A retry of a message already stored is answered, limit or not: the app only wants its 200.
            first = await self._first_sent(user_id, match_id, draft.client_id)
            if first is None:
                raise
            return first, False
        try:
            async with self.db.transaction(), database.connection(self.db) as connection:
                pair = await standing_pair(connection, user_id, match_id, lock=True)
                online = bool(replies[0]) if also and replies is not None and pair.other == recipient else None
                row = await self._store(connection, pair, draft, online)
        except _Repeated:
            first = await self._first_sent(user_id, match_id, draft.client_id)
            if first is None:  # erased since: the conversation is gone with it
                raise NotFound("no such conversation") from None
            return first, False
        message = self._view(row)
        await fanout.deliver(
            self.valkey, (pair.other, user_id), fanout.frame("message_received", {"message": message}), origin
        )
        return message, True

    async def _store(
        self, connection: asyncpg.Connection, pair: Pair, draft: Draft, online: bool | None
    ) -> dict[str, Any]:
        photo = None
        if draft.photo_id is not None:
            photo = await connection.fetchrow(
                "SELECT id AS photo_id, width, height, blurhash FROM chat_photos"
                " WHERE id = $1 AND match_id = $2 AND owner = $3",
                draft.photo_id,
                pair.match_id,
                pair.me,
            )
            if photo is None:
                raise NotFound("no such photo in this conversation; upload it with POST …/photos first")
        message_id = uuid.uuid4()
        stored = await connection.fetchrow(
            _STORE,
            pair.match_id,
            pair.me,
            message_id,
            draft.client_id,
            draft.type,
            draft.content,
            draft.photo_id,
        )
        if stored is None:
            raise _Repeated
        seq, created_at = stored
        if not (online if online is not None else await self._reachable(pair.other)):
            await publish(
                MESSAGE_WAITING,
                {
                    "messageId": str(message_id),
                    "matchId": str(pair.match_id),
                    "senderId": str(pair.me),
                    "recipientId": str(pair.other),
                },
            )
        row = {
            "id": message_id,
            "match_id": pair.match_id,
            "seq": seq,
            "sender": pair.me,
            "client_id": draft.client_id,
            "type": draft.type,
            "content": draft.content,
            "created_at": created_at,
        }
        return row | (dict(photo) if photo else {"photo_id": None})

    async def _reachable(self, person: uuid.UUID) -> bool:
        """Whether the person has a socket online; when presence cannot be read, they are taken to have none,
        so a notification is queued rather than missed."""
        try:
            return bool(await self.presence.online([person]))
        except (ValkeyError, OSError):
            return False

    async def _first_sent(self, user_id: uuid.UUID, match_id: uuid.UUID, client_id: str) -> MessageView | None:
        """The message the person first sent with this clientId, if any (409 when it went to another conversation)."""
        async with database.connection(self.db) as connection:
            row = await connection.fetchrow(f"{_MESSAGES} WHERE m.sender = $1 AND m.client_id = $2", user_id, client_id)
            if row is None:
                return None
            if row["match_id"] != match_id:
                raise Conflict("this clientId was used for a message in another conversation; make a new one")
            await standing_pair(connection, user_id, match_id, lock=False)
        return self._view(dict(row))

    async def messages(
        self,
        user_id: uuid.UUID,
        match_id: uuid.UUID,
        page: PageRequest,
        before: uuid.UUID | None,
        after: uuid.UUID | None,
    ) -> MessageList:
        """Newest first, or with ``after`` oldest first from just after that message (how a client catches up)."""
        if before is not None and after is not None:
            raise Invalid(
                "send ?before= or ?after=, not both", errors=[FieldError("after", "leave out one of the two")]
            )
        async with database.connection(self.db) as connection:
            await standing_pair(connection, user_id, match_id, lock=False)
            if page.after is not None:
                direction, bound = page.after
            elif after is not None or before is not None:
                direction = "after" if after is not None else "before"
                bound = await self._seq_of(connection, match_id, after or before)  # type: ignore[arg-type]
            else:
                direction, bound = "before", None
            if direction == "after":
                query = f"{_MESSAGES} WHERE m.match_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
            else:
                query = (
                    f"{_MESSAGES} WHERE m.match_id = $1 AND ($2::bigint IS NULL OR m.seq < $2)"
                    " ORDER BY m.seq DESC LIMIT $3"
                )
            rows = await connection.fetch(query, match_id, bound, page.limit + 1)
        shown, next_cursor = page.split([dict(row) for row in rows], lambda row: [direction, row["seq"]])
        return MessageList(items=[self._view(row) for row in shown], next_cursor=next_cursor)

    async def _seq_of(self, connection: asyncpg.Connection, match_id: uuid.UUID, message_id: uuid.UUID) -> int:
        seq = await connection.fetchval(
            "SELECT seq FROM chat_messages WHERE id = $1 AND match_id = $2", message_id, match_id
        )
        if seq is None:
            raise NotFound("no such message in this conversation")
        return int(seq)

    async def read(
        self, user_id: uuid.UUID, match_id: uuid.UUID, up_to: uuid.UUID, origin: str | None = None
    ) -> ReadState:
        """Mark the conversation read up to a message (never backwards) and recount the caller's unread messages
        in the same transaction; the other person's sockets hear of it when the mark moved."""
        async with self.db.transaction(), database.connection(self.db) as connection:
            pair = await standing_pair(connection, user_id, match_id, lock=True)
            seq = await self._seq_of(connection, match_id, up_to)
            # Lock first: the count below then runs on a snapshot taken after every send that got the lock before.
            before = await connection.fetchval(
                f"SELECT read_seq_{pair.side} FROM chat_conversations WHERE match_id = $1 FOR UPDATE", match_id
            )
            read_seq, unread = await connection.fetchrow(
                f"UPDATE chat_conversations c SET read_seq_{pair.side} = greatest(read_seq_{pair.side}, $2),"
                f" unread_{pair.side} = (SELECT count(*) FROM chat_messages m WHERE m.match_id = $1"
                f" AND m.sender <> $3 AND m.seq > greatest(c.read_seq_{pair.side}, $2))"
                f" WHERE match_id = $1 RETURNING read_seq_{pair.side}, unread_{pair.side}",
                match_id,
                seq,
                user_id,
            )
            moved = read_seq > before
        state = ReadState(match_id=match_id, unread_count=unread, read_seq=read_seq)
        if moved:
            receipt = {"matchId": match_id, "userId": user_id, "upToMessageId": up_to, "readSeq": read_seq}
            await fanout.deliver(self.valkey, (pair.other, user_id), fanout.frame("message_read", receipt), origin)
        return state

    async def conversations(self, user_id: uuid.UUID, page: PageRequest) -> ConversationList:
        """The caller's standing matches, the most recently active conversation first."""
        after = page.after or [None, None]
        async with database.connection(self.db) as connection:
            rows = await connection.fetch(
                "SELECT m.id, CASE WHEN m.user_a = $1 THEN m.user_b ELSE m.user_a END AS other,"
                " coalesce(c.last_message_at, m.created_at) AS active_at, c.last_message_id,"
                " coalesce(CASE WHEN m.user_a = $1 THEN c.unread_a ELSE c.unread_b END, 0) AS unread"
                " FROM matches m LEFT JOIN chat_conversations c ON c.match_id = m.id"
                " WHERE (m.user_a = $1 OR m.user_b = $1) AND m.ended_at IS NULL"
                " AND ($2::timestamptz IS NULL OR (coalesce(c.last_message_at, m.created_at), m.id)"
                " < ($2::timestamptz, $3::uuid))"
                " ORDER BY active_at DESC, m.id DESC LIMIT $4",
                user_id,
                dt.datetime.fromisoformat(after[0]) if after[0] else None,
                uuid.UUID(after[1]) if after[1] else None,
                page.limit + 1,
            )
            shown, next_cursor = page.split(list(rows), lambda r: [r["active_at"].isoformat(), str(r["id"])])
            # A suspended or banned person is hidden, as their statement of reasons says; the conversation stands.
            hidden = await measures.barred_among(connection, [row["other"] for row in shown])
            shown = [row for row in shown if row["other"] not in hidden]
            last_ids = [row["last_message_id"] for row in shown if row["last_message_id"] is not None]
            last = {
                row["id"]: dict(row) for row in await connection.fetch(f"{_MESSAGES} WHERE m.id = ANY($1)", last_ids)
            }
        others = [row["other"] for row in shown]
        cards = {card.id: card for card in await self.profiles.public_cards(user_id, others, revealed=others)}
        items = [
            Conversation(
                match_id=row["id"],
                user=cards[row["other"]],
                last_message=self._view(last[row["last_message_id"]]) if row["last_message_id"] in last else None,
                unread_count=row["unread"],
            )
            for row in shown
            if row["other"] in cards
        ]
        return ConversationList(items=items, next_cursor=next_cursor)

    def _view(self, row: dict[str, Any]) -> MessageView:
        photo = None
        if row.get("photo_id") is not None:
            photo = ChatPhoto(
                id=row["photo_id"],
                urls=PhotoUrls(**self.signer.urls(row["photo_id"], scope="chat")),
                blurhash=row["blurhash"],
                width=row["width"],
                height=row["height"],
            )
        return MessageView(
            id=row["id"],
            match_id=row["match_id"],
            seq=row["seq"],
            sender_id=row["sender"],
            client_id=row["client_id"],
            content=row["content"],
            type=row["type"],
            photo=photo,
            created_at=row["created_at"],
        )


def _check_draft(draft: Draft) -> None:
    if draft.type == "text" and draft.photo_id is not None:
        raise Invalid("a text message has no photo", errors=[FieldError("photoId", "only for a message of type image")])
    if draft.type == "text" and not _shows_something(draft.content):
        raise Invalid(
            "a text message needs content",
            errors=[FieldError("content", "1 to 5,000 characters, not only spaces or invisible characters")],
        )
    if draft.type == "image" and draft.photo_id is None:
        raise Invalid("an image message needs a photoId", errors=[FieldError("photoId", "upload the photo first")])


def _shows_something(text: str) -> bool:
    """Whether the text has a character that is drawn: spaces, line breaks and invisible formatting (zero-width
    spaces and joiners, word joiners) alone would reach the other person as an empty bubble."""
    return any(not char.isspace() and unicodedata.category(char) != "Cf" for char in text)
