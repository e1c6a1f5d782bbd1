"""``/api/users/photos`` and the signed ``/media`` links behind them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, Response, delete, get, post, put
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from server.errors import Forbidden, NotFound
from server.photos.media import variant_key
from server.photos.schemas import PhotoPage, PhotoView
from server.photos.service import PhotoService
from server.web.auth import Caller

Photos = NamedDependency[PhotoService]


@dataclass
class PhotoUpload:
    #: JPEG, PNG, WebP or HEIC; the type is read from the content
    file: UploadFile


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
    """Photo variants behind signed links; nginx caches them. The signature is the permission."""

    path = "/media"
    include_in_schema = False

    @get("/{photo_id:uuid}/{name:str}")
    async def serve(
        self, photo_id: FromPath[uuid.UUID], name: FromPath[str], exp: FromQuery[int], sig: FromQuery[str], state: State
    ) -> Response[bytes]:
        variant = name.removesuffix(".webp")
        left = state.media_signer.seconds_left(photo_id, variant, exp, sig)
        if not left:
            raise Forbidden("this link is not valid or has expired; fetch the profile again for fresh links")
        data = await state.storage.get("media", variant_key(photo_id, variant))  # type: ignore[arg-type]
        if data is None:
            raise NotFound("no such photo")
        return Response(data, media_type="image/webp", headers={"Cache-Control": f"public, max-age={min(left, 3600)}"})
