"""Photos in export and erasure: rows go in the erasure's transaction, objects by a job committed with it."""

from __future__ import annotations

import uuid
from typing import Any

from server import settings as settings_module
from server.moderation import queue
from server.photos.media import MediaSigner
from server.photos.service import PURGE_JOB, visible_cache_key
from server.photos.tables import Photo
from server.platform import database
from server.platform.events import publish
from server.privacy.registry import DomainData


async def export(user_id: uuid.UUID) -> dict[str, Any]:
    """The photos' facts, and short-lived links to download each processed one."""
    signer = MediaSigner.from_settings(settings_module.current())
    columns = (
        Photo.id,
        Photo.state,
        Photo.position,
        Photo.source_format,
        Photo.width,
        Photo.height,
        Photo.created_at,
        Photo.processed_at,
    )
    rows = await Photo.select(*columns).where(Photo.user == user_id).order_by(Photo.position)
    return {"photos": [row | {"urls": signer.urls(row["id"]) if row["processed_at"] else None} for row in rows]}


async def erase(user_id: uuid.UUID) -> None:
    gone = await Photo.delete().where(Photo.user == user_id).returning(Photo.id)
    if gone:
        # The job names photos, not the person, so nothing in the queue points back at them.
        await publish(PURGE_JOB, {"photoIds": [str(row["id"]) for row in gone]})
        async with database.connection(database.engine()) as connection:
            await queue.withdraw(connection, "photo", [row["id"] for row in gone])


PRIVACY = DomainData(
    name="photos",
    tables=(Photo._meta.tablename,),
    export=export,
    erase=erase,
    cache_keys=lambda user_id: [visible_cache_key(user_id)],
)
