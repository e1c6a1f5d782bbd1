"""A report's photos, revealed: the copies frozen with the evidence, behind short-lived signed links.

The report's view carries each photo's blurhash only, so the moderator's screen shows it blurred. Asking for a
photo here is a reveal, written to the audit log (``photo.reveal``, naming the report) before the link is given;
the link then serves the frozen copy — not the live photo, which may be gone — to anyone holding it until it
expires, as the selfie links do.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery

from server.auth.roles import Role
from server.errors import Forbidden, NotFound
from server.moderation import audit
from server.moderation.verification_routes import EXPIRED
from server.platform import database, links
from server.safety.reports import copy_id, copy_key
from server.settings import Settings
from server.web.auth import Caller, requires_role
from server.web.schemas import Camel

_LINK_PURPOSE = b"report evidence until "


class EvidencePhoto(Camel):
    photo_id: uuid.UUID
    #: signed, valid for `[photos] url_minutes`; fetching it needs no token
    url: str
    blurhash: str | None


def evidence_links(settings: Settings) -> links.ExpiringLinks:
    media = settings.secrets.media.url_key
    return links.ExpiringLinks(media, settings.config.photos.url_minutes, settings.public_url(), _LINK_PURPOSE)


def _kept(evidence: dict[str, Any], photo_id: uuid.UUID) -> tuple[uuid.UUID, str | None] | None:
    """The copy's id and the blurhash of one photo of the evidence, if a copy of it was kept."""
    wanted = str(photo_id)
    messages = (evidence.get("conversation") or {}).get("messages") or []
    found = [(p.get("copy"), p.get("blurhash")) for p in evidence.get("photos") or [] if str(p["photoId"]) == wanted]
    found += [(m.get("photoCopy"), m.get("photoBlurhash")) for m in messages if str(m.get("photoId")) == wanted]
    for copy, blurhash in found:
        if copy:
            return copy_id(copy), blurhash
    return None


class EvidenceRevealController(Controller):
    path = "/api/admin/reports"
    tags = ["moderation"]
    guards = [requires_role(Role.MODERATOR, Role.ADMIN)]

    @get("/{report_id:uuid}/photos/{photo_id:uuid}")
    async def reveal(
        self, report_id: FromPath[uuid.UUID], photo_id: FromPath[uuid.UUID], state: State, claims: Caller
    ) -> EvidencePhoto:
        """One photo of a report's evidence, sharp: a short-lived link to the copy frozen when the report was filed.
        Every call is a reveal, written to the audit log as `photo.reveal` with the report. 404 if the report kept
        no copy of that photo."""
        async with database.connection(state.db) as connection, connection.transaction():
            row = await connection.fetchrow("SELECT reported, evidence FROM safety_reports WHERE id = $1", report_id)
            kept = _kept(json.loads(row["evidence"]), photo_id) if row else None
            if row is None or kept is None:
                raise NotFound("no copy of this photo was kept with this report")
            await audit.record(
                connection,
                claims.user_id,
                "photo.reveal",
                row["reported"],
                {"report": str(report_id), "photo": str(photo_id)},
            )
        copy_id, blurhash = kept
        url = evidence_links(state.settings).url(f"/api/admin/evidence/{report_id}/{copy_id}", copy_id)
        return EvidencePhoto(photo_id=photo_id, url=url, blurhash=blurhash)


class EvidenceCopyController(Controller):
    """The copy behind a reveal's signed link: the signature is the permission. Never cached."""

    path = "/api/admin/evidence"
    include_in_schema = False

    @get("/{report_id:uuid}/{copy_id:uuid}")
    async def copy(
        self,
        report_id: FromPath[uuid.UUID],
        copy_id: FromPath[uuid.UUID],
        exp: FromQuery[str],
        sig: FromQuery[str],
        state: State,
    ) -> Response[bytes]:
        if not evidence_links(state.settings).valid(copy_id, exp, sig):
            raise Forbidden(EXPIRED)
        data = await state.storage.get("media", copy_key(report_id, copy_id))
        if data is None:
            raise NotFound("this copy is gone (the report's evidence was erased)")
        return Response(data, media_type="image/webp", headers={"Cache-Control": "private, no-store"})
