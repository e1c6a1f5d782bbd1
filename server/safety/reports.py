"""Reports: a person tells us of harm, and what it was about is kept as it was when they told us.

Filing freezes the evidence in the report itself: the reported person's profile, copies of their photos' objects
(and of photos they sent in the conversation), and the last messages between the two. An unmatch, a deleted
photo or message, or either account's erasure destroys nothing a moderator needs. The evidence names nobody by
id: the two are "reporter" and "reported". A message or photo named in a report must be the reported person's,
from a conversation between the two that stands or ended less than 90 days ago. Filing puts the report in the
review queue, by severity (minor safety and threats first), and, unless the reporter says otherwise, blocks.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from piccolo.engine.postgres import PostgresEngine

from server.auth.accounts import age_on
from server.chat.photos import object_key as chat_object_key
from server.errors import FieldError, Invalid, NotFound, RateLimited
from server.moderation import queue
from server.photos.media import variant_key
from server.platform import database
from server.platform.storage import Storage
from server.safety.service import BlockService
from server.settings import ModerationSection
from server.web.schemas import FREE_TEXT, Camel

Reason = Literal[
    "minor-safety", "threat", "sexual-violence", "scam", "nudity", "harassment", "hate", "spam", "fake-profile", "other"
]
#: 0 is worked first
SEVERITY: dict[str, int] = {"minor-safety": 0, "threat": 0, "sexual-violence": 1}
NORMAL = 2
#: how long after an unmatch a conversation's messages and photos can still be reported
AFTER_UNMATCH = dt.timedelta(days=90)
#: messages of the conversation kept with a report
MESSAGES_KEPT = 50


def copy_key(report_id: uuid.UUID, copy: uuid.UUID) -> str:
    """Where a copy kept with a report's evidence lies in the media bucket (no person's id in it)."""
    return f"evidence/{report_id}/{copy}.webp"


def copy_id(key: str) -> uuid.UUID:
    """The copy's own id, from its key."""
    return uuid.UUID(key.removesuffix(".webp").rsplit("/", 1)[-1])


class ReportDraft(Camel, forbid_unknown_fields=True):
    user_id: uuid.UUID
    reason: Reason
    details: Annotated[str, FREE_TEXT, msgspec.Meta(max_length=2000)] = ""
    #: a message of theirs in your conversation
    message_id: uuid.UUID | None = None
    #: one of their profile photos, or a photo they sent you
    photo_id: uuid.UUID | None = None
    #: reporting also blocks, unless this is false
    block: bool = True


class Filed(Camel):
    id: uuid.UUID
    reason: Reason
    created_at: dt.datetime
    #: whether the reported person is now blocked
    blocked: bool


class ReportService:
    def __init__(self, db: PostgresEngine, storage: Storage, config: ModerationSection, blocks: BlockService) -> None:
        self.db = db
        self.storage = storage
        self.config = config
        self.blocks = blocks

    async def file(self, reporter: uuid.UUID, draft: ReportDraft) -> Filed:
        if draft.user_id == reporter:
            raise Invalid("you cannot report yourself", errors=[FieldError("userId", "that is your own id")])
        report_id = uuid.uuid4()
        async with database.connection(self.db) as connection:
            await self._check_rate(connection, reporter)
            evidence = await self._evidence(connection, report_id, reporter, draft)
            async with connection.transaction():
                created_at = await connection.fetchval(
                    "INSERT INTO safety_reports (id, reporter, reported, reason, details, message_id, photo_id,"
                    " evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) RETURNING created_at",
                    report_id,
                    reporter,
                    draft.user_id,
                    draft.reason,
                    draft.details,
                    draft.message_id,
                    draft.photo_id,
                    json.dumps(evidence, default=str),
                )
                await queue.enqueue(connection, self.config, "report", report_id, SEVERITY.get(draft.reason, NORMAL))
        if draft.block:
            await self.blocks.block(reporter, draft.user_id)
        return Filed(id=report_id, reason=draft.reason, created_at=created_at, blocked=draft.block)

    async def _check_rate(self, connection: asyncpg.Connection, reporter: uuid.UUID) -> None:
        filed = await connection.fetchval(
            "SELECT count(*) FROM safety_reports WHERE reporter = $1 AND created_at > now() - interval '1 hour'",
            reporter,
        )
        if filed >= self.config.reports_per_hour:
            raise RateLimited(f"at most {self.config.reports_per_hour} reports an hour", retry_after=3600)

    async def _evidence(
        self, connection: asyncpg.Connection, report_id: uuid.UUID, reporter: uuid.UUID, draft: ReportDraft
    ) -> dict[str, Any]:
        reported = draft.user_id
        person = await connection.fetchrow(
            "SELECT u.first_name, u.gender, u.date_of_birth, p.bio, p.job_title, p.education, p.interests,"
            ' p.relationship_goal FROM users u LEFT JOIN profiles p ON p."user" = u.id WHERE u.id = $1',
            reported,
        )
        if person is None:
            raise NotFound("no such person to report")
        one, other = sorted((reporter, reported))
        match = await connection.fetchrow(
            "SELECT id, ended_at FROM matches WHERE user_a = $1 AND user_b = $2 AND"
            " (ended_at IS NULL OR ended_at > now() - $3::interval)",
            one,
            other,
            AFTER_UNMATCH,
        )
        messages = (
            await connection.fetch(
                "SELECT id, seq, sender, type, content, photo_id, created_at FROM chat_messages WHERE match_id = $1"
                " ORDER BY seq DESC LIMIT $2",
                match["id"],
                MESSAGES_KEPT,
            )
            if match
            else []
        )
        if draft.message_id is not None:
            named = await connection.fetchval(
                "SELECT 1 FROM chat_messages WHERE id = $1 AND match_id = $2 AND sender = $3",
                draft.message_id,
                match["id"] if match else None,
                reported,
            )
            if named is None:
                raise NotFound("no such message of theirs in a conversation of yours")
            if all(message["id"] != draft.message_id for message in messages):
                messages.append(
                    await connection.fetchrow(
                        "SELECT id, seq, sender, type, content, photo_id, created_at FROM chat_messages WHERE id = $1",
                        draft.message_id,
                    )
                )
        photos = await connection.fetch(
            'SELECT id, state, position, blurhash FROM photos WHERE "user" = $1 ORDER BY position', reported
        )
        chat_photos = (
            await connection.fetch(
                "SELECT id, blurhash FROM chat_photos WHERE match_id = $1 AND owner = $2", match["id"], reported
            )
            if match
            else []
        )
        if draft.photo_id is not None and draft.photo_id not in {row["id"] for row in [*photos, *chat_photos]}:
            raise NotFound("no such photo of theirs")
        copies = {row["id"]: await self._copy(report_id, variant_key(row["id"], "large")) for row in photos}
        copies |= {row["id"]: await self._copy(report_id, chat_object_key(row["id"], "large")) for row in chat_photos}
        # Drawn blurred on the moderator's screen until revealed.
        blurhashes = {row["id"]: row["blurhash"] for row in chat_photos}
        born = person["date_of_birth"]
        return {
            "profile": {
                "firstName": person["first_name"],
                "gender": person["gender"],
                "age": age_on(born, dt.date.today()) if born else None,
                "bio": person["bio"],
                "jobTitle": person["job_title"],
                "education": person["education"],
                "interests": person["interests"] or [],
                "relationshipGoal": person["relationship_goal"],
            },
            "photos": [
                {
                    "photoId": row["id"],
                    "state": row["state"],
                    "copy": copies.get(row["id"]),
                    "blurhash": row["blurhash"],
                }
                for row in photos
            ],
            "conversation": {
                "matched": match is not None,
                "endedAt": match["ended_at"] if match else None,
                "messages": [
                    {
                        "messageId": row["id"],
                        "seq": row["seq"],
                        "from": "reported" if row["sender"] == reported else "reporter",
                        "type": row["type"],
                        "content": row["content"],
                        "photoId": row["photo_id"],
                        "photoCopy": copies.get(row["photo_id"]),
                        "photoBlurhash": blurhashes.get(row["photo_id"]),
                        "createdAt": row["created_at"],
                    }
                    for row in sorted(messages, key=lambda row: row["seq"])
                ],
            },
            "filedAt": dt.datetime.now(dt.UTC),
        }

    async def _copy(self, report_id: uuid.UUID, key: str) -> str | None:
        """A copy of one object under the report's own name (no person's id in it), or None when it is gone."""
        data = await self.storage.get("media", key)
        if data is None:
            return None
        copy = copy_key(report_id, uuid.uuid4())
        await self.storage.put("media", copy, data, "image/webp")
        return copy
