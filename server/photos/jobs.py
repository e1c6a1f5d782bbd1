"""Photo jobs in the worker: make the variants of an upload, and delete the objects of removed photos.

Both are idempotent: a job run twice (a worker died before acking it) finds the work done or redoes it.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from functools import cache

from valkey.asyncio import Valkey

from server import settings as settings_module
from server.matching import candidates
from server.moderation.photos import enqueue_review
from server.photos.media import VARIANTS, original_key, variant_key
from server.photos.service import forget_visible, object_keys
from server.photos.states import PhotoState
from server.photos.tables import Photo
from server.platform import cache as cache_module
from server.platform import database, images
from server.platform.events import Job
from server.platform.storage import Storage

log = logging.getLogger("harvest.photos.jobs")


@cache
def _clients() -> tuple[Storage, Valkey]:
    settings = settings_module.current()
    return Storage(settings), cache_module.client_for(settings)


async def process_photo(job: Job) -> None:
    photo_id = uuid.UUID(job.payload["photoId"])
    row = await Photo.select(Photo.state, Photo.user).where(Photo.id == photo_id).first()
    if row is None or row["state"] != PhotoState.PROCESSING:
        return  # deleted, erased or already done
    storage, valkey = _clients()
    data = await storage.get("originals", original_key(photo_id))
    if data is None:
        # The original is stored before its row exists and purged only after the row is gone.
        raise LookupError(f"the original of photo {photo_id} is missing from storage")
    limits = settings_module.current().config.photos
    try:
        variants = await images.run(images.make_variants, data, limits.max_megapixels * 1_000_000)
    except (images.NotAnImage, images.BadImage) as exc:
        # The upload was checked already; a file Pillow cannot finish now is refused, not retried forever.
        # A helper lost to the machine (HelperLost) is not the file's fault: it fails the job, which is retried.
        log.warning("photo could not be processed", extra={"photo": str(photo_id), "error": str(exc)})
        await Photo.update({Photo.state: PhotoState.REJECTED}).where(Photo.id == photo_id)
        return
    for variant in VARIANTS:
        await storage.put("media", variant_key(photo_id, variant), getattr(variants, variant), "image/webp")
    state = PhotoState.APPROVED if limits.moderation == "post" else PhotoState.PENDING_REVIEW
    async with database.engine().transaction():
        done = await _finish(photo_id, state, variants)
        if done:
            await candidates.refresh(row["user"])
            if state == PhotoState.PENDING_REVIEW:
                # Its review item commits with the state: no photo waits without one.
                async with database.connection(database.engine()) as connection:
                    await enqueue_review(connection, settings_module.current().config.moderation, photo_id)
    if not done:  # the photo was deleted while its variants were being made
        await storage.remove("media", [variant_key(photo_id, v) for v in VARIANTS])
        return
    await forget_visible(valkey, row["user"])


async def _finish(photo_id: uuid.UUID, state: PhotoState, variants: images.Variants) -> bool:
    done = (
        await Photo.update(
            {
                Photo.state: state,
                Photo.width: variants.width,
                Photo.height: variants.height,
                Photo.blurhash: variants.blurhash,
                Photo.phash: variants.phash,
                Photo.processed_at: dt.datetime.now(dt.UTC),
            }
        )
        .where((Photo.id == photo_id) & (Photo.state == PhotoState.PROCESSING))
        .returning(Photo.id)
    )
    return bool(done)


async def purge_photos(job: Job) -> None:
    storage, _ = _clients()
    for purpose, keys in object_keys(job.payload["photoIds"]).items():
        await storage.remove(purpose, keys)  # type: ignore[arg-type]
