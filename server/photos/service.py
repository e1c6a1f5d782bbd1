"""Uploading, ordering and deleting photos; what others may see of them.

upload ─► checked (size, real type, pixels, whole) ─► original in the private bucket
       ─► row (processing) + job, in one transaction ─► worker: variants ─► pending_review | approved
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

from server.errors import Conflict, FieldError, Invalid, NotFound, TooLarge, Unavailable, UnsupportedMedia
from server.matching import candidates
from server.moderation import queue
from server.photos.media import VARIANTS, MediaSigner, Variant, original_key, variant_key
from server.photos.schemas import PhotoUrls, PhotoView
from server.photos.states import PhotoState
from server.photos.tables import Photo
from server.platform import database, images
from server.platform.events import publish
from server.platform.storage import Storage
from server.settings import PhotosSection

log = logging.getLogger("harvest.photos")
PROCESS_JOB = "photos.process"
PURGE_JOB = "photos.purge"
_VISIBLE = "photos:visible:{}"
_VISIBLE_TTL = 600


def visible_cache_key(user_id: uuid.UUID | str) -> str:
    return _VISIBLE.format(user_id)


def object_keys(photo_ids: list[str]) -> dict[str, list[str]]:
    """Every object a photo has, by bucket purpose."""
    return {
        "originals": [original_key(uuid.UUID(p)) for p in photo_ids],
        "media": [variant_key(uuid.UUID(p), v) for p in photo_ids for v in VARIANTS],
    }


async def forget_visible(valkey: Valkey, user_id: uuid.UUID | str) -> None:
    """Drop the cached list of someone's visible photos; it is rebuilt from Postgres on the next read."""
    try:
        await valkey.delete(visible_cache_key(user_id))
    except (ValkeyError, OSError):
        log.warning("photo cache unreachable; entry expires on its own")


def blurred_only(views: list[PhotoView]) -> list[PhotoView]:
    """The same photos with only their blurred links. Links are signed per photo and variant, not per viewer
    (the media endpoint cannot tell who asks), so leaving the sharp variants' links out is what keeps them
    from a viewer; a link handed out while two people were matched stays valid until it expires."""
    return [
        msgspec.structs.replace(view, urls=PhotoUrls(large=None, thumb=None, blurred=view.urls.blurred))
        if view.urls is not None
        else view
        for view in views
    ]


def check_upload_size(data: bytes, limits: PhotosSection) -> None:
    """Refuse an upload by its size alone, before anything decodes it."""
    if len(data) > limits.max_upload_mb * 1024 * 1024:
        raise TooLarge(f"a photo may be at most {limits.max_upload_mb} MB")
    if not data:
        raise Invalid("the file is empty", errors=[FieldError("file", "send the image as the multipart field `file`")])


@contextlib.contextmanager
def image_errors() -> Iterator[None]:
    """What checking or processing an uploaded image found, as the answer its sender gets."""
    try:
        yield
    except images.NotAnImage as exc:
        raise UnsupportedMedia(str(exc)) from None
    except images.BadImage as exc:
        raise Invalid(str(exc), errors=[FieldError("file", str(exc))]) from None
    except images.HelperLost:
        # The machine's trouble, not the file's: the same upload may well pass in a moment.
        raise Unavailable("the image could not be checked just now; send it again in a minute") from None


class PhotoService:
    def __init__(
        self, db: PostgresEngine, valkey: Valkey, storage: Storage, signer: MediaSigner, limits: PhotosSection
    ) -> None:
        self.db = db
        self.valkey = valkey
        self.storage = storage
        self.signer = signer
        self.limits = limits

    async def upload(self, user_id: uuid.UUID, data: bytes) -> PhotoView:
        check_upload_size(data, self.limits)
        await self._ensure_room(user_id)
        with image_errors():
            source_format = await images.run(
                images.inspect,
                data,
                self.limits.max_megapixels * 1_000_000,
                cpu_seconds=images.INSPECT_CPU_SECONDS,
            )
        photo_id = uuid.uuid4()
        await self.storage.put("originals", original_key(photo_id), data, "application/octet-stream")
        try:
            async with self.db.transaction():
                count = await self._lock_and_count(user_id)
                if count >= self.limits.max_per_user:
                    raise self._full()
                await Photo.insert(
                    Photo(
                        id=photo_id,
                        user=user_id,
                        state=PhotoState.PROCESSING,
                        position=count,
                        source_format=source_format,
                        created_at=dt.datetime.now(dt.UTC),
                    )
                )
                await publish(PROCESS_JOB, {"photoId": str(photo_id)})
        except BaseException:
            await self.storage.remove("originals", [original_key(photo_id)])
            raise
        return PhotoView(id=photo_id, state=PhotoState.PROCESSING, urls=None, blurhash=None, position=count)

    async def delete(self, user_id: uuid.UUID, photo_id: uuid.UUID) -> None:
        """Remove the photo; its objects are deleted by a job committed with the row's removal."""
        async with self.db.transaction():
            await self._lock_and_count(user_id)
            gone = (
                await Photo.delete().where((Photo.id == photo_id) & (Photo.user == user_id)).returning(Photo.position)
            )
            if not gone:
                raise NotFound("no such photo")
            await Photo.raw(
                'UPDATE photos SET position = position - 1 WHERE "user" = {} AND position > {}',
                user_id,
                gone[0]["position"],
            )
            await publish(PURGE_JOB, {"photoIds": [str(photo_id)]})
            async with database.connection(self.db) as connection:
                await queue.withdraw(connection, "photo", [photo_id])
            await candidates.refresh(user_id)
        await forget_visible(self.valkey, user_id)

    async def reorder(self, user_id: uuid.UUID, order: list[uuid.UUID]) -> list[PhotoView]:
        async with self.db.transaction():
            await self._lock_and_count(user_id)
            mine = {row["id"] for row in await Photo.select(Photo.id).where(Photo.user == user_id)}
            if any(photo_id not in mine for photo_id in order):
                raise NotFound("no such photo")
            if len(order) != len(set(order)) or set(order) != mine:
                raise Invalid(
                    "list each of your photos exactly once",
                    errors=[FieldError("body", "a permutation of your photo ids")],
                )
            for position, photo_id in enumerate(order):
                await Photo.update({Photo.position: position}).where(Photo.id == photo_id)
        await forget_visible(self.valkey, user_id)
        return await self.mine(user_id)

    async def variant(self, photo_id: uuid.UUID, variant: Variant) -> bytes:
        """A processed photo's variant, while the photo exists and is not rejected: a link signed before the
        photo was deleted, erased or rejected stops working at once."""
        servable = await Photo.exists().where(
            (Photo.id == photo_id) & Photo.state.is_in([PhotoState.PENDING_REVIEW, PhotoState.APPROVED])
        )
        data = await self.storage.get("media", variant_key(photo_id, variant)) if servable else None
        if data is None:
            raise NotFound("no such photo")
        return data

    async def mine(self, user_id: uuid.UUID) -> list[PhotoView]:
        """The owner's photos in every state, in their order."""
        rows = await Photo.select(*Photo.all_columns()).where(Photo.user == user_id).order_by(Photo.position)
        return [self._view(row) for row in rows]

    async def visible(self, user_id: uuid.UUID) -> list[PhotoView]:
        """What others see: approved photos only, in the owner's order (cached)."""
        try:
            cached = await self.valkey.get(visible_cache_key(user_id))
        except (ValkeyError, OSError):
            cached = None
        return await self.visible_from(user_id, cached)

    async def visible_from(self, user_id: uuid.UUID, cached: str | None) -> list[PhotoView]:
        """``visible`` for a caller that fetched the cache entry along with its own, in one round trip."""
        return (await self.visible_of({user_id: cached}))[user_id]

    async def visible_of(self, cached: dict[uuid.UUID, str | None]) -> dict[uuid.UUID, list[PhotoView]]:
        """``visible`` for many people at once, given what the cache held for each (None: nothing), so a page
        of 50 profiles costs one query for all the lists the cache lacked. Every link is included: a viewer
        who may see only blurred photos gets ``blurred_only`` of these (ProfileService.public_cards decides)."""
        rows_of = await self.visible_rows(cached)
        return {
            user_id: [
                PhotoView(
                    id=uuid.UUID(row["id"]),
                    state=PhotoState.APPROVED,
                    urls=PhotoUrls(**self.signer.urls(uuid.UUID(row["id"]))),
                    blurhash=row["blurhash"],
                    position=position,
                    width=row["width"],
                    height=row["height"],
                )
                for position, row in enumerate(rows_of[user_id])
            ]
            for user_id in cached
        }

    async def visible_rows(self, cached: dict[uuid.UUID, str | None]) -> dict[uuid.UUID, list[dict[str, Any]]]:
        """The approved photos' rows of many people, from what the cache held for each; the ones it lacked are
        read in one query and cached (which is also how a caller warms the cache ahead of a page)."""
        rows_of = {user_id: json.loads(raw) for user_id, raw in cached.items() if raw is not None}
        missing = [user_id for user_id in cached if user_id not in rows_of]
        if missing:
            found = (
                await Photo.select(Photo.user, Photo.id, Photo.blurhash, Photo.width, Photo.height)
                .where(Photo.user.is_in(missing) & (Photo.state == PhotoState.APPROVED))
                .order_by(Photo.position)
            )
            rows_of |= {user_id: [] for user_id in missing}
            for row in found:
                rows_of[row.pop("user")].append(row | {"id": str(row["id"])})
            try:
                async with self.valkey.pipeline(transaction=False) as pipe:
                    for user_id in missing:
                        pipe.set(visible_cache_key(user_id), json.dumps(rows_of[user_id]), ex=_VISIBLE_TTL)
                    await pipe.execute()
            except (ValkeyError, OSError):
                log.warning("photo cache unreachable; serving from Postgres")
        return rows_of

    def _view(self, row: dict[str, Any]) -> PhotoView:
        ready = row["processed_at"] is not None and row["state"] != PhotoState.REJECTED
        return PhotoView(
            id=row["id"],
            state=row["state"],
            urls=PhotoUrls(**self.signer.urls(row["id"])) if ready else None,
            blurhash=row["blurhash"],
            position=row["position"],
            width=row["width"],
            height=row["height"],
            rejection_reason=row["rejection_reason"],
        )

    async def _ensure_room(self, user_id: uuid.UUID) -> None:
        """A quick refusal before the upload is decoded; the count is checked again under the lock."""
        if await Photo.count().where(Photo.user == user_id) >= self.limits.max_per_user:
            raise self._full()

    async def _lock_and_count(self, user_id: uuid.UUID) -> int:
        """Serialise one person's photo changes (within the caller's transaction) and count their photos."""
        await Photo.raw("SELECT pg_advisory_xact_lock(hashtextextended({}, 0))", f"photos:{user_id}")
        count: int = await Photo.count().where(Photo.user == user_id)
        return count

    def _full(self) -> Conflict:
        return Conflict(f"you already have {self.limits.max_per_user} photos; delete one first")
