"""``/api/users/photos`` and the signed ``/media`` links behind them and behind photos sent in chat."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from server.chat.photos import ChatPhotoService
from server.photos.media import MAX_AGE, MediaLink
from server.photos.schemas import PhotoPage, PhotoUpload, PhotoView
from server.photos.service import PhotoService
from server.web.auth import Caller

Photos = NamedDependency[PhotoService]
ChatPhotos = NamedDependency[ChatPhotoService]


class PhotoController(Controller):
    path = "/api/users/photos"
    tags = ["users"]

    @post("/", status_code=HTTP_202_ACCEPTED)
    async def upload(
        self,
        data: Annotated[PhotoUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        photos: Photos,
        claims: Caller,
    ) -> PhotoView:
        """Upload a photo (multipart field `file`). It is processed in the background: `state` moves on from
        `processing`, and `urls` appear, in the caller's profile."""
        return await photos.upload(claims.user_id, await data.file.read())

    @delete("/{photo_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def remove(self, photo_id: FromPath[uuid.UUID], photos: Photos, claims: Caller) -> None:
        await photos.delete(claims.user_id, photo_id)

    @put("/order")
    async def reorder(self, data: JSONBody[list[uuid.UUID]], photos: Photos, claims: Caller) -> PhotoPage:
        """Body: every one of the caller's photo ids, in the new order; the first is the primary photo."""
        return PhotoPage(items=await photos.reorder(claims.user_id, data))


class MediaController(Controller):
    """Photo variants behind signed links; nginx caches them. The signature is the permission, and the origin
    still refuses a withdrawn photo: a profile photo deleted or rejected, a chat photo whose match has ended."""

    path = "/media"
    include_in_schema = False

    @get("/{photo_id:str}/{name:str}")
    async def serve(
        self, photo_id: FromPath[str], name: FromPath[str], exp: FromQuery[str], sig: FromQuery[str], photos: Photos
    ) -> Response[bytes]:
        # Every part is taken as text and checked against the one spelling links are issued in.
        link = photos.signer.verify(photo_id, name, exp, sig)
        return _served(link, await photos.variant(link.photo_id, link.variant))

    @get("/chat/{photo_id:str}/{name:str}")
    async def serve_chat(
        self,
        photo_id: FromPath[str],
        name: FromPath[str],
        exp: FromQuery[str],
        sig: FromQuery[str],
        chat_photos: ChatPhotos,
    ) -> Response[bytes]:
        # Signed with the chat scope: a profile photo's signature for the same id and variant does not fit.
        link = chat_photos.signer.verify(photo_id, name, exp, sig, scope="chat")
        return _served(link, await chat_photos.variant(link.photo_id, link.variant))


def _served(link: MediaLink, data: bytes) -> Response[bytes]:
    max_age = min(link.seconds_left, MAX_AGE)
    return Response(data, media_type="image/webp", headers={"Cache-Control": f"public, max-age={max_age}"})
