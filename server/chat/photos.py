"""Photos sent in a conversation: made into variants while the sender waits, and never part of a profile.

upload ─► a standing match of the caller's ─► per-person limit ─► checked (size, real type, pixels, whole)
       ─► variants (orientation applied, metadata gone) ─► media bucket under ``chat/``
       ─► row, in a transaction holding the match against an unmatch

The upload itself is not kept: its EXIF and GPS would outlive the variants, and nothing is made from it later.
A variant is served only while the photo's match stands, so unmatching ends every link at once; the objects go
when the rows do (erasure, in ``server/chat/privacy.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey

from server.chat.schemas import ChatPhoto
from server.chat.service import standing_pair
from server.errors import NotFound
from server.photos.media import VARIANTS, MediaSigner, Variant, variant_key
from server.photos.schemas import PhotoUrls
from server.photos.service import check_upload_size, image_errors
from server.platform import database, images
from server.platform.ratelimit import RateLimiter
from server.platform.storage import Storage
from server.settings import ChatSection, PhotosSection

#: chat photos whose rows are gone: the worker deletes their objects
PURGE_PHOTOS = "chat.purge_photos"


def object_key(photo_id: uuid.UUID, variant: Variant) -> str:
    """Where a chat photo's variant is kept in the media bucket, apart from profile photos' variants."""
    return f"chat/{variant_key(photo_id, variant)}"


def object_keys(photo_ids: Iterable[str]) -> list[str]:
    """Every object of these chat photos."""
    return [object_key(uuid.UUID(photo_id), variant) for photo_id in photo_ids for variant in VARIANTS]


class ChatPhotoService:
    def __init__(
        self,
        db: PostgresEngine,
        valkey: Valkey,
        storage: Storage,
        signer: MediaSigner,
        *,
        limits: PhotosSection,
        settings: ChatSection,
    ) -> None:
        self.db = db
        self.storage = storage
        self.signer = signer
        self.limits = limits
        self.settings = settings
        self.limiter = RateLimiter(valkey)

    async def upload(self, user_id: uuid.UUID, match_id: uuid.UUID, data: bytes) -> ChatPhoto:
        """Make the photo's variants and keep them for this conversation; the photo is then sent as a message
        with its id. 404 unless the caller is one of the two people of a standing match."""
        check_upload_size(data, self.limits)
        async with database.connection(self.db) as connection:
            await standing_pair(connection, user_id, match_id, lock=False)  # a stranger costs no decoding
        # Counted before decoding, so files that fail to decode still spend the sender's allowance.
        await self.limiter.hit("chat-photo", str(user_id), self.settings.photos_per_hour, 3600)
        variants = await self._variants(data)
        photo_id = uuid.uuid4()
        try:
            # One after another: a put still running in its thread when another failed could land after the
            # clean-up below.
            for variant in VARIANTS:
                await self.storage.put("media", object_key(photo_id, variant), getattr(variants, variant), "image/webp")
            async with self.db.transaction(), database.connection(self.db) as connection:
                # Held until the commit: an unmatch or an erasure waits for it, and an erasure then purges the row.
                await standing_pair(connection, user_id, match_id, lock=True)
                await connection.execute(
                    "INSERT INTO chat_photos (id, match_id, owner, width, height, blurhash)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    photo_id,
                    match_id,
                    user_id,
                    variants.width,
                    variants.height,
                    variants.blurhash,
                )
        except BaseException:
            await self.storage.remove("media", object_keys([str(photo_id)]))
            raise
        return ChatPhoto(
            id=photo_id,
            urls=PhotoUrls(**self.signer.urls(photo_id, scope="chat")),
            blurhash=variants.blurhash,
            width=variants.width,
            height=variants.height,
        )

    async def variant(self, photo_id: uuid.UUID, variant: Variant) -> bytes:
        """A chat photo's variant while its match stands: a link signed before an unmatch or an erasure stops
        working at once."""
        async with database.connection(self.db) as connection:
            servable = await connection.fetchval(
                "SELECT EXISTS (SELECT FROM chat_photos p JOIN matches m ON m.id = p.match_id"
                " WHERE p.id = $1 AND m.ended_at IS NULL)",
                photo_id,
            )
        data = await self.storage.get("media", object_key(photo_id, variant)) if servable else None
        if data is None:
            raise NotFound("no such photo")
        return data

    async def _variants(self, data: bytes) -> images.Variants:
        """The profile photos' checks and variants, with the same answers for a file that fails them."""
        max_pixels = self.limits.max_megapixels * 1_000_000
        with image_errors():
            await images.run(images.inspect, data, max_pixels, cpu_seconds=images.INSPECT_CPU_SECONDS)
            return await images.run(images.make_variants, data, max_pixels)
