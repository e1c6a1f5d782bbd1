"""A person's photos. Pixels live in object storage; these rows say what exists and who may see it."""

from __future__ import annotations

from piccolo.columns import UUID, ForeignKey, Integer, OnDelete, SmallInt, Timestamptz, Varchar
from piccolo.table import Table

from server.auth.tables import User
from server.photos.states import PhotoState


class Photo(Table, tablename="photos"):
    id = UUID(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    #: one of PhotoState, checked by the database
    state = Varchar(length=16, default=PhotoState.PROCESSING)
    #: 0 is the primary photo; the order the person chose
    position = SmallInt()
    #: what the content turned out to be (jpeg, png, webp, heif), never what the client claimed
    source_format = Varchar(length=8)
    #: of the large variant, once processed
    width = Integer(null=True, default=None)
    height = Integer(null=True, default=None)
    blurhash = Varchar(length=64, null=True, default=None)
    #: 64-bit perceptual hash (hex), kept to find the same picture uploaded again
    phash = Varchar(length=16, null=True, default=None, index=True)
    created_at = Timestamptz()
    processed_at = Timestamptz(null=True, default=None)
    #: why a moderator rejected it (one of the presets), shown to its owner
    rejection_reason = Varchar(length=16, null=True, default=None)
