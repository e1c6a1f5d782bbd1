"""Photo review under pre-moderation: each photo waiting for review is a queue item, looked at by a moderator
(every look is a reveal, and audited) and approved or rejected by the one holding its lease.

worker: variants made ─► pending_review + queue item (one transaction) ─► moderator claims the item
        ─► GET reveals the large variant (audited) ─► decision: approved (in decks) | rejected (owner told)
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import asyncpg
import msgspec
from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey

from server.auth.roles import Role
from server.errors import FieldError, Forbidden, Invalid, NotFound
from server.matching import candidates
from server.moderation import audit, queue
from server.photos.media import MediaSigner
from server.photos.service import forget_visible
from server.photos.states import PhotoState
from server.platform import database
from server.platform.events import publish
from server.settings import ModerationSection
from server.web.auth import Caller, requires_role
from server.web.schemas import Camel

#: photos wait behind reports of minor safety, threats and sexual violence
SEVERITY = 2

#: why a photo is rejected, as the moderator picks it and the audit log keeps it
PhotoReason = Literal["nudity", "not-a-person", "someone-else", "minor", "violence", "other"]


class PhotoDecision(Camel, forbid_unknown_fields=True):
    decision: Literal["approve", "reject"]
    #: needed to reject; an approval may leave it out
    reason: PhotoReason | None = None


class PhotoDecided(Camel):
    photo_id: uuid.UUID
    state: PhotoState


class PhotoPreview(Camel):
    """A photo's facts and its blurhash: what the review screen draws, blurred, before anyone reveals it."""

    id: uuid.UUID
    user_id: uuid.UUID
    state: PhotoState
    width: int | None
    height: int | None
    blurhash: str | None
    created_at: dt.datetime


class PhotoUnderReview(PhotoPreview):
    """A photo as the moderator sees it once revealed: its facts and a short-lived link to its large variant."""

    #: signed, valid for `[photos] url_minutes`; fetching it needs no token
    large_url: str


async def enqueue_review(connection: asyncpg.Connection, config: ModerationSection, photo_id: uuid.UUID) -> None:
    """The queue item of a photo entering pending_review, in the transaction that sets that state."""
    await queue.enqueue(connection, config, "photo", photo_id, SEVERITY)


class PhotoReviewService:
    def __init__(self, db: PostgresEngine, valkey: Valkey, signer: MediaSigner, config: ModerationSection) -> None:
        self.db = db
        self.valkey = valkey
        self.signer = signer
        self.config = config

    async def preview(self, photo_id: uuid.UUID) -> PhotoPreview:
        """The photo's facts and blurhash; no link to it, so nothing to audit."""
        async with database.connection(self.db) as connection:
            return await _preview(connection, photo_id)

    async def reveal(self, moderator: uuid.UUID, photo_id: uuid.UUID) -> PhotoUnderReview:
        """The photo with a link to its sharp variant; each call is a reveal, and is written to the audit log."""
        async with database.connection(self.db) as connection, connection.transaction():
            facts = await _preview(connection, photo_id)
            await audit.record(connection, moderator, "photo.reveal", facts.user_id, {"photo": str(photo_id)})
        return PhotoUnderReview(**msgspec.structs.asdict(facts), large_url=self.signer.url(photo_id, "large"))

    async def decide(self, moderator: uuid.UUID, photo_id: uuid.UUID, body: PhotoDecision) -> PhotoDecided:
        """Approve or reject a photo whose queue item the moderator holds (409 otherwise), never their own (403)."""
        if body.decision == "reject" and body.reason is None:
            raise Invalid("a rejection needs its reason", errors=[FieldError("reason", "pick one of the presets")])
        # A Piccolo transaction, so the discovery refresh published is part of it.
        async with self.db.transaction(), database.connection(self.db) as connection:
            item = await queue.held(connection, moderator, "photo", photo_id)
            owner = await connection.fetchval(
                "SELECT \"user\" FROM photos WHERE id = $1 AND state = 'pending_review' FOR UPDATE", photo_id
            )
            if owner is not None:
                if owner == moderator:
                    raise Forbidden("you cannot review your own photo; leave it to another moderator")
                await _apply(connection, moderator, photo_id, owner, body)
            await queue.decided(connection, [item])
        if owner is None:
            # No longer waiting (a deletion withdraws its item, so this is a race with one): nothing to decide.
            raise NotFound("this photo is no longer waiting for review; its owner deleted it")
        await forget_visible(self.valkey, owner)
        return PhotoDecided(photo_id=photo_id, state=_STATES[body.decision])


_STATES = {"approve": PhotoState.APPROVED, "reject": PhotoState.REJECTED}


async def _apply(
    connection: asyncpg.Connection, moderator: uuid.UUID, photo_id: uuid.UUID, owner: uuid.UUID, body: PhotoDecision
) -> None:
    """The decision's effects, in the caller's transaction: the state, what follows from it, and the audit entry."""
    await connection.execute(
        "UPDATE photos SET state = $2, rejection_reason = $3 WHERE id = $1",
        photo_id,
        _STATES[body.decision].value,
        body.reason if body.decision == "reject" else None,
    )
    if body.decision == "approve":
        # Now in the owner's profile for others, and in the decks the discovery row feeds.
        await publish(candidates.REFRESH, {"userId": str(owner)})
    else:
        # data names nothing: the owner sees which photo, and why, in their own listing.
        await connection.execute(
            "INSERT INTO notifications (id, user_id, kind, data) VALUES ($1, $2, 'moderation', '{}'::jsonb)",
            uuid.uuid4(),
            owner,
        )
    await audit.record(
        connection, moderator, f"photo.{body.decision}", owner, {"photo": str(photo_id), "reason": body.reason or ""}
    )


async def _preview(connection: asyncpg.Connection, photo_id: uuid.UUID) -> PhotoPreview:
    row = await connection.fetchrow(
        'SELECT id, "user" AS user_id, state, width, height, blurhash, created_at FROM photos'
        " WHERE id = $1 AND processed_at IS NOT NULL",
        photo_id,
    )
    if row is None:
        raise NotFound("no such processed photo")
    return PhotoPreview(**dict(row))


def photo_review_service(state: State) -> PhotoReviewService:
    return PhotoReviewService(state.db, state.valkey, state.media_signer, state.settings.config.moderation)


PhotoReviews = NamedDependency[PhotoReviewService]


class PhotoReviewController(Controller):
    path = "/api/admin/photos"
    tags = ["moderation"]
    guards = [requires_role(Role.MODERATOR, Role.ADMIN)]
    dependencies = {"reviews": Provide(photo_review_service, sync_to_thread=False)}

    @get("/{photo_id:uuid}")
    async def photo(self, photo_id: FromPath[uuid.UUID], reviews: PhotoReviews, claims: Caller) -> PhotoUnderReview:
        """The photo with a short-lived link to its sharp large variant. Every call is a reveal, written to the
        audit log as `photo.reveal`."""
        return await reviews.reveal(claims.user_id, photo_id)

    @get("/{photo_id:uuid}/preview")
    async def preview(self, photo_id: FromPath[uuid.UUID], reviews: PhotoReviews) -> PhotoPreview:
        """The photo's facts and blurhash, for a screen that shows it blurred: no link to the photo, so not a
        reveal and not audited."""
        return await reviews.preview(photo_id)

    @post("/{photo_id:uuid}/decision", status_code=HTTP_200_OK)
    async def decide(
        self, photo_id: FromPath[uuid.UUID], data: JSONBody[PhotoDecision], reviews: PhotoReviews, claims: Caller
    ) -> PhotoDecided:
        """Approve (shown to others, in decks) or reject (with a preset `reason`; the owner is notified) a photo
        waiting for review whose queue item you hold (409 otherwise); 403 for your own photo."""
        return await reviews.decide(claims.user_id, photo_id, data)
