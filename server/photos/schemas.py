"""Photo bodies, as api.md fixes them."""

from __future__ import annotations

import uuid

from server.photos.states import PhotoState
from server.web.schemas import Camel


class PhotoUrls(Camel):
    large: str
    thumb: str
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


class PhotoPage(Camel):
    items: list[PhotoView]
    next_cursor: str | None = None
