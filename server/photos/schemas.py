"""Photo bodies, as api.md fixes them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from litestar.datastructures import UploadFile

from server.photos.states import PhotoState
from server.web.schemas import Camel


class PhotoUrls(Camel):
    """Short-lived signed links to a photo's variants. ``blurred`` is always present. ``large`` and ``thumb``
    are null when the viewer may see only the blurred variant: with the operator's ``blur_until_match``
    on, people see each other's sharp photos only once they have matched (never null on the caller's own
    photos). A client shows ``blurred`` (or the blurhash) in their place."""

    large: str | None
    thumb: str | None
    blurred: str


class PhotoView(Camel):
    id: uuid.UUID
    state: PhotoState
    #: short-lived signed links; null until the photo is processed
    urls: PhotoUrls | None
    blurhash: str | None
    #: 0 is the primary photo
    position: int
    width: int | None = None
    height: int | None = None
    #: only in your own list, for a rejected photo: why (nudity, not-a-person, someone-else, minor, violence, other)
    rejection_reason: str | None = None


class PhotoPage(Camel):
    items: list[PhotoView]
    next_cursor: str | None = None


@dataclass
class PhotoUpload:
    """A multipart upload of one image, as profile and chat photos take it."""

    #: JPEG, PNG, WebP or HEIC; the type is read from the content
    file: UploadFile
