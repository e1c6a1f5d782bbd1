"""Short-lived signed URLs for photo variants, and the object names behind them.

A URL names a photo and a variant, never a bucket or an object path; its HMAC covers both and the
expiry. Expiries are rounded up to a step, so one photo's URL stays the same for a while and clients
and nginx can cache it. Only the spelling a link is issued in is accepted (lowercase dashed id, the
variant's file name, digits for the expiry), so one picture has one URL and one cache entry.

A valid signature is necessary, not sufficient: a photo deleted, erased or rejected after its links
were issued is refused at the origin, and caches may keep a served copy for ``MAX_AGE`` seconds only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import time
import uuid
from dataclasses import dataclass
from typing import Literal

from server.errors import Forbidden, NotFound
from server.settings import Settings

Variant = Literal["large", "thumb", "blurred"]
#: "" for profile photos; "chat" for photos sent in a conversation, whose links are signed (and served) apart
Scope = Literal["", "chat"]
VARIANTS: tuple[Variant, ...] = ("large", "thumb", "blurred")
_STEP_SECONDS = 600
#: How long nginx and then the client may keep a served variant. nginx serves a cached copy with the
#: max-age it was stored with, so a copy can live twice this: 30 s keeps a withdrawn photo under a minute.
MAX_AGE = 30
_FILE_NAMES: dict[str, Variant] = {f"{variant}.webp": variant for variant in VARIANTS}
_PHOTO_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EXPIRY = re.compile(r"[1-9][0-9]{0,11}")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{24}")


def original_key(photo_id: uuid.UUID) -> str:
    return str(photo_id)


def variant_key(photo_id: uuid.UUID, variant: Variant) -> str:
    return f"{photo_id}/{variant}.webp"


@dataclass(frozen=True)
class MediaLink:
    """A link that verified: what it names, and for how many more seconds it is valid."""

    photo_id: uuid.UUID
    variant: Variant
    seconds_left: int


class MediaSigner:
    def __init__(self, key: str, lifetime_minutes: int, base_url: str) -> None:
        self._key = key.encode()
        self.lifetime = lifetime_minutes * 60
        self.base_url = base_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaSigner:
        return cls(settings.secrets.media.url_key, settings.config.photos.url_minutes, settings.public_url())

    def url(self, photo_id: uuid.UUID, variant: Variant, now: float | None = None, scope: Scope = "") -> str:
        expires = math.ceil(((now or time.time()) + self.lifetime) / _STEP_SECONDS) * _STEP_SECONDS
        signature = self._sign(photo_id, variant, expires, scope)
        return f"{self.base_url}/media/{_prefix(scope)}{photo_id}/{variant}.webp?exp={expires}&sig={signature}"

    def urls(self, photo_id: uuid.UUID, scope: Scope = "") -> dict[str, str]:
        now = time.time()
        return {variant: self.url(photo_id, variant, now, scope) for variant in VARIANTS}

    def verify(self, photo_id: str, file_name: str, expires: str, signature: str, scope: Scope = "") -> MediaLink:
        """The link's photo and variant; NotFound for a path not spelled as issued, Forbidden for a forged,
        altered, respelled or expired query."""
        variant = _FILE_NAMES.get(file_name)
        if variant is None or not _PHOTO_ID.fullmatch(photo_id):
            raise NotFound("no such photo")
        if _EXPIRY.fullmatch(expires) and _SIGNATURE.fullmatch(signature):
            photo = uuid.UUID(photo_id)
            expected = self._sign(photo, variant, int(expires), scope)
            left = int(expires) - int(time.time())
            # Both sides are ASCII bytes: compare_digest refuses str with other characters.
            if hmac.compare_digest(expected.encode(), signature.encode()) and left > 0:
                return MediaLink(photo, variant, left)
        raise Forbidden("this link is not valid or has expired; fetch the profile again for fresh links")

    def _sign(self, photo_id: uuid.UUID, variant: Variant, expires: int, scope: Scope) -> str:
        # The scope is signed too, so a profile photo's link cannot be respelled as a chat photo's, or back.
        message = f"{_prefix(scope)}{photo_id}/{variant}/{expires}"
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()


def _prefix(scope: Scope) -> str:
    return f"{scope}/" if scope else ""
