"""Verification's routes: the member's ``/api/users/verification``, the moderator's
``/api/admin/verifications``, and the signed selfie links the moderator's view hands out."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from server.auth.roles import Role
from server.errors import Forbidden
from server.moderation.verification import (
    VerificationDecided,
    VerificationDecision,
    VerificationService,
    VerificationStatus,
    VerificationUnderReview,
)
from server.photos.schemas import PhotoUpload
from server.photos.service import PhotoService
from server.web.auth import Caller, requires_role

#: a signed link that is forged, altered, or past its time
EXPIRED = "this link is not valid or has expired; open the item again for a fresh one"


def verification_service(state: State, photos: NamedDependency[PhotoService]) -> VerificationService:
    return VerificationService(state.db, state.valkey, state.storage, photos, state.settings)


Verifications = NamedDependency[VerificationService]
_PROVIDED = {"verifications": Provide(verification_service, sync_to_thread=False)}


class VerificationController(Controller):
    path = "/api/users/verification"
    tags = ["users"]
    dependencies = _PROVIDED

    @get("/")
    async def status(self, verifications: Verifications, claims: Caller) -> VerificationStatus:
        """Whether your profile is verified, the request under way with the pose your selfie must show (the same
        pose until you have sent a selfie for it), and the latest decision with its reason."""
        return await verifications.status(claims.user_id)

    @post("/", status_code=HTTP_202_ACCEPTED)
    async def submit(
        self,
        data: Annotated[PhotoUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        verifications: Verifications,
        claims: Caller,
    ) -> VerificationStatus:
        """Send the selfie making your pose (multipart field `file`, checked as photos are). A moderator compares
        it with your profile photos. 409 while one waits for a moderator, before you have asked for your pose, or
        once verified."""
        return await verifications.submit(claims.user_id, await data.file.read())


class VerificationReviewController(Controller):
    path = "/api/admin/verifications"
    tags = ["moderation"]
    guards = [requires_role(Role.MODERATOR, Role.ADMIN)]
    dependencies = _PROVIDED

    @get("/{request_id:uuid}")
    async def request(
        self, request_id: FromPath[uuid.UUID], verifications: Verifications, claims: Caller
    ) -> VerificationUnderReview:
        """The selfie (a short-lived link), the pose asked for, and the person's approved photos; every view is
        written to the audit log as `verification.view`."""
        return await verifications.review(claims.user_id, request_id)

    @post("/{request_id:uuid}/decision", status_code=HTTP_200_OK)
    async def decide(
        self,
        request_id: FromPath[uuid.UUID],
        data: JSONBody[VerificationDecision],
        verifications: Verifications,
        claims: Caller,
    ) -> VerificationDecided:
        """Approve (the profile shows `isVerified`) or reject with a preset `reason`, which the person is told, a
        request whose queue item you hold (409 otherwise); 403 for your own."""
        return await verifications.decide(claims.user_id, request_id, data)


class SelfieController(Controller):
    """The selfie behind the moderator's signed link: the signature is the permission, as for ``/media``, so a
    terminal can show it without the token. Never cached: a face nobody else was meant to see."""

    path = "/api/admin/verifications"
    include_in_schema = False
    dependencies = _PROVIDED

    @get("/{request_id:uuid}/selfie")
    async def selfie(
        self, request_id: FromPath[uuid.UUID], exp: FromQuery[str], sig: FromQuery[str], verifications: Verifications
    ) -> Response[bytes]:
        if not verifications.links.valid(request_id, exp, sig):
            raise Forbidden(EXPIRED)
        data = await verifications.selfie(request_id)
        return Response(data, media_type="image/webp", headers={"Cache-Control": "private, no-store"})
