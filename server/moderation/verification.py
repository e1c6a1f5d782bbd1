"""Profile verification: a selfie making a pose we chose, compared by a moderator with the profile photos.

GET (pose drawn and kept) ─► POST selfie (checked as photos are; stored as a clean webp) ─► queue item
   ─► moderator: selfie + approved photos (audited view) ─► approved: profile shows isVerified
                                                         └► rejected: the person is told why, and may try again

The pose is drawn once per request and kept with it, so asking again, or sending another selfie, is checked
against the same pose; a new pose comes only with a new request, after a rejection. Only the selfie's large
variant is kept (orientation applied, EXIF and GPS gone), in the private originals bucket under ``verification/``;
it is fetched by a short-lived signed link, and goes with the request when the person is erased.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
import uuid
from typing import Literal

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

from server import settings as settings_module
from server.errors import Conflict, FieldError, Forbidden, Invalid, NotFound
from server.moderation import audit, queue
from server.photos.schemas import PhotoView
from server.photos.service import PhotoService, check_upload_size, image_errors
from server.platform import database, images, links
from server.platform.events import Job, publish
from server.platform.storage import Storage
from server.profiles.service import card_key
from server.settings import ModerationSection, Settings
from server.web.schemas import Camel

log = logging.getLogger("harvest.moderation.verification")

#: erased requests' selfies: the worker deletes these objects
PURGE_SELFIES = "moderation.purge_selfies"
#: behind reports of minor safety, threats and sexual violence, with photo review
SEVERITY = 2
#: what the person is asked to do in the selfie; a photo taken earlier rarely shows it
POSES = (
    "touch your left ear",
    "thumbs up",
    "peace sign",
    "hand flat on your forehead",
    "point at your right shoulder",
    "cover one eye with your hand",
)
#: why a selfie is rejected, in the words the person is told
REASONS: dict[str, str] = {
    "wrong-pose": "The selfie does not show the pose we asked for.",
    "face-not-visible": "Your face is not clearly visible in the selfie.",
    "not-the-same-person": "The selfie does not match the person in your profile photos.",
    "not-a-live-photo": "The selfie looks like a photo of a screen or of another photo.",
    "no-photos-to-compare": "Your profile has no approved photo to compare the selfie with.",
}
Reason = Literal["wrong-pose", "face-not-visible", "not-the-same-person", "not-a-live-photo", "no-photos-to-compare"]
_LINK_PURPOSE = b"verification selfie until "


def selfie_key(request_id: uuid.UUID) -> str:
    """A new object name for a request's selfie: one per upload, so two sent at once never share one."""
    return f"verification/{request_id}/{uuid.uuid4()}.webp"


class VerificationRequest(Camel):
    id: uuid.UUID
    #: requested: take a selfie making the pose and send it; open: a moderator will look at it
    state: Literal["requested", "open"]
    pose: str
    created_at: dt.datetime


class VerificationOutcome(Camel):
    state: Literal["approved", "rejected"]
    #: why a rejected selfie was refused: the preset, and its words for the person
    reason: Reason | None
    explanation: str | None
    decided_at: dt.datetime


class VerificationStatus(Camel):
    """The caller's verification: whether the badge shows, the request under way, and the latest decision."""

    is_verified: bool
    #: null once verified
    request: VerificationRequest | None
    last_decision: VerificationOutcome | None


class VerificationUnderReview(Camel):
    """A request as the moderator sees it: the selfie, the pose asked for, and the person's approved photos."""

    id: uuid.UUID
    user_id: uuid.UUID
    pose: str
    state: Literal["open", "approved", "rejected"]
    #: signed, valid for `[photos] url_minutes`; fetching it needs no token
    selfie_url: str
    photos: list[PhotoView]
    submitted_at: dt.datetime


class VerificationDecision(Camel, forbid_unknown_fields=True):
    decision: Literal["approve", "reject"]
    #: needed to reject; the person is told it
    reason: Reason | None = None


class VerificationDecided(Camel):
    request_id: uuid.UUID
    state: Literal["approved", "rejected"]


def selfie_links(settings: Settings) -> links.ExpiringLinks:
    media = settings.secrets.media.url_key
    return links.ExpiringLinks(media, settings.config.photos.url_minutes, settings.public_url(), _LINK_PURPOSE)


class VerificationService:
    def __init__(
        self,
        db: PostgresEngine,
        valkey: Valkey,
        storage: Storage,
        photos: PhotoService,
        settings: Settings,
    ) -> None:
        self.db = db
        self.valkey = valkey
        self.storage = storage
        self.photos = photos
        self.limits = settings.config.photos
        self.config: ModerationSection = settings.config.moderation
        self.links = selfie_links(settings)

    async def status(self, user_id: uuid.UUID) -> VerificationStatus:
        """The caller's state; a person not verified and with no request under way is given one, with its pose."""
        async with database.connection(self.db) as connection:
            if not await _verified(connection, user_id):
                # The partial unique index keeps one undecided request: asking again answers the same pose.
                await connection.execute(
                    "INSERT INTO moderation_verifications (id, user_id, pose) VALUES ($1, $2, $3)"
                    " ON CONFLICT (user_id) WHERE state IN ('requested', 'open') DO NOTHING",
                    uuid.uuid4(),
                    user_id,
                    secrets.choice(POSES),
                )
            return await _status(connection, user_id)

    async def submit(self, user_id: uuid.UUID, data: bytes) -> VerificationStatus:
        """The selfie for the caller's requested pose; 409 while one waits for a moderator, or when verified."""
        check_upload_size(data, self.limits)
        async with database.connection(self.db) as connection:
            request_id = await _requested(connection, user_id)
        max_pixels = self.limits.max_megapixels * 1_000_000
        with image_errors():
            await images.run(images.inspect, data, max_pixels, cpu_seconds=images.INSPECT_CPU_SECONDS)
            variants = await images.run(images.make_variants, data, max_pixels)
        key = selfie_key(request_id)
        await self.storage.put("originals", key, variants.large, "image/webp")
        try:
            async with database.connection(self.db) as connection, connection.transaction():
                sent = await connection.fetchval(
                    "UPDATE moderation_verifications SET state = 'open', selfie_key = $2, submitted_at = now()"
                    " WHERE id = $1 AND state = 'requested' RETURNING id",
                    request_id,
                    key,
                )
                if sent is None:
                    raise Conflict("a selfie for this request is already waiting for a moderator")
                await queue.enqueue(connection, self.config, "verification", request_id, SEVERITY)
        except BaseException:
            await self.storage.remove("originals", [key])
            raise
        async with database.connection(self.db) as connection:
            return await _status(connection, user_id)

    async def review(self, moderator: uuid.UUID, request_id: uuid.UUID) -> VerificationUnderReview:
        """The request with links to the selfie and the approved photos; each view is written to the audit log."""
        async with database.connection(self.db) as connection, connection.transaction():
            row = await connection.fetchrow(
                "SELECT id, user_id, pose, state, submitted_at FROM moderation_verifications"
                " WHERE id = $1 AND state <> 'requested'",
                request_id,
            )
            if row is None:
                raise NotFound("no such verification request with a selfie")
            await audit.record(connection, moderator, "verification.view", row["user_id"], {"request": str(request_id)})
        return VerificationUnderReview(
            id=row["id"],
            user_id=row["user_id"],
            pose=row["pose"],
            state=row["state"],
            selfie_url=self.links.url(f"/api/admin/verifications/{request_id}/selfie", request_id),
            photos=await self.photos.visible(row["user_id"]),
            submitted_at=row["submitted_at"],
        )

    async def selfie(self, request_id: uuid.UUID) -> bytes:
        """A request's selfie, while the request exists: a link signed before an erasure stops working at once."""
        async with database.connection(self.db) as connection:
            key = await connection.fetchval(
                "SELECT selfie_key FROM moderation_verifications WHERE id = $1 AND selfie_key IS NOT NULL", request_id
            )
        data = await self.storage.get("originals", key) if key else None
        if data is None:
            raise NotFound("no such selfie")
        return data

    async def decide(
        self, moderator: uuid.UUID, request_id: uuid.UUID, body: VerificationDecision
    ) -> VerificationDecided:
        """Approve (the profile shows isVerified) or reject with a reason the person is told, holding the request's
        queue item (409 otherwise); never one's own request (403)."""
        if body.decision == "reject" and body.reason is None:
            raise Invalid("a rejection needs its reason", errors=[FieldError("reason", "pick one of the presets")])
        state: Literal["approved", "rejected"] = "approved" if body.decision == "approve" else "rejected"
        # A Piccolo transaction, so the selfie's purge published is part of it.
        async with self.db.transaction(), database.connection(self.db) as connection:
            item = await queue.held(connection, moderator, "verification", request_id)
            row = await connection.fetchrow(
                "SELECT user_id, selfie_key FROM moderation_verifications WHERE id = $1 AND state = 'open' FOR UPDATE",
                request_id,
            )
            if row is None:
                raise NotFound("no such open verification request")
            person = row["user_id"]
            if person == moderator:
                raise Forbidden("you cannot verify your own profile; leave it to another moderator")
            # A face is kept no longer than it is needed: decided, the selfie goes (by a job committed with the
            # decision, so a decision is never undone by a store that is down, nor a selfie left behind).
            await connection.execute(
                "UPDATE moderation_verifications SET state = $2, reason = $3, decided_by = $4, decided_at = now(),"
                " selfie_key = NULL WHERE id = $1",
                request_id,
                state,
                body.reason if state == "rejected" else None,
                moderator,
            )
            await publish(PURGE_SELFIES, {"keys": [row["selfie_key"]]})
            if state == "approved":
                # An unedited profile has no row yet: the badge makes one.
                await connection.execute(
                    'INSERT INTO profiles (id, "user", verified_at, updated_at) VALUES ($1, $2, now(), now())'
                    ' ON CONFLICT ("user") DO UPDATE SET verified_at = now(), updated_at = now()',
                    uuid.uuid4(),
                    person,
                )
            else:
                # The reason is in the person's GET /api/users/verification.
                await connection.execute(
                    "INSERT INTO notifications (id, user_id, kind, data) VALUES ($1, $2, 'moderation', '{}'::jsonb)",
                    uuid.uuid4(),
                    person,
                )
            await queue.decided(connection, [item])
            await audit.record(
                connection,
                moderator,
                f"verification.{body.decision}",
                person,
                {"request": str(request_id), "reason": body.reason or ""},
            )
        try:
            # The cached profile card carries isVerified; it is read again from Postgres.
            await self.valkey.delete(card_key(person))
        except (ValkeyError, OSError):
            log.warning("profile cache unreachable; the badge shows once the cached card expires")
        return VerificationDecided(request_id=request_id, state=state)


async def _verified(connection: asyncpg.Connection, user_id: uuid.UUID) -> bool:
    return bool(await connection.fetchval('SELECT verified_at IS NOT NULL FROM profiles WHERE "user" = $1', user_id))


async def _requested(connection: asyncpg.Connection, user_id: uuid.UUID) -> uuid.UUID:
    """The caller's request waiting for its selfie; 409 when there is none to send one for."""
    row = await connection.fetchrow(
        "SELECT id, state FROM moderation_verifications WHERE user_id = $1 AND state IN ('requested', 'open')",
        user_id,
    )
    if row is not None and row["state"] == "requested":
        return row["id"]  # type: ignore[no-any-return]
    if row is not None:
        raise Conflict("your selfie is waiting for a moderator; you will hear when it is decided")
    if await _verified(connection, user_id):
        raise Conflict("your profile is verified already")
    raise Conflict("ask for your pose first: GET /api/users/verification")


async def _status(connection: asyncpg.Connection, user_id: uuid.UUID) -> VerificationStatus:
    pending = await connection.fetchrow(
        "SELECT id, state, pose, created_at FROM moderation_verifications"
        " WHERE user_id = $1 AND state IN ('requested', 'open')",
        user_id,
    )
    decided = await connection.fetchrow(
        "SELECT state, reason, decided_at FROM moderation_verifications"
        " WHERE user_id = $1 AND state IN ('approved', 'rejected') ORDER BY decided_at DESC LIMIT 1",
        user_id,
    )
    return VerificationStatus(
        is_verified=await _verified(connection, user_id),
        request=VerificationRequest(**dict(pending)) if pending else None,
        last_decision=VerificationOutcome(**dict(decided), explanation=REASONS.get(decided["reason"] or ""))
        if decided
        else None,
    )


async def erase(connection: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """The person's requests, in the erasure's transaction; their items leave the queue and their selfies are
    deleted by a job committed with it."""
    gone = await connection.fetch(
        "DELETE FROM moderation_verifications WHERE user_id = $1 RETURNING id, selfie_key", user_id
    )
    items = await connection.fetch(
        "SELECT id FROM moderation_queue WHERE kind = 'verification' AND subject = ANY($1::uuid[])",
        [row["id"] for row in gone],
    )
    await queue.decided(connection, [row["id"] for row in items])
    keys = [row["selfie_key"] for row in gone if row["selfie_key"]]
    if keys:
        await publish(PURGE_SELFIES, {"keys": keys})


async def export(connection: asyncpg.Connection, user_id: uuid.UUID) -> list[dict[str, object]]:
    """The person's requests: pose, state, dates and any reason (the selfie itself they took and hold)."""
    rows = await connection.fetch(
        "SELECT id, pose, state, reason, created_at, submitted_at, decided_at FROM moderation_verifications"
        " WHERE user_id = $1 ORDER BY created_at",
        user_id,
    )
    return [dict(row) for row in rows]


@functools.cache
def _storage() -> Storage:
    return Storage(settings_module.current())


async def purge_selfies(job: Job) -> None:
    """Delete the selfies of erased requests (the worker's side of ``erase``)."""
    await _storage().remove("originals", job.payload["keys"])
