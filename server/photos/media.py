"""Short-lived signed URLs for photo variants, and the object names behind them.

A URL names a photo and a variant, never a bucket or an object path; its HMAC covers both and the
expiry. Expiries are rounded up to a step, so one photo's URL stays the same for a while and clients
and nginx can cache it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
import uuid
from typing import Literal

from server.settings import Settings

Variant = Literal["large", "thumb", "blurred"]
VARIANTS: tuple[Variant, ...] = ("large", "thumb", "blurred")
_STEP_SECONDS = 600


def original_key(photo_id: uuid.UUID) -> str:
    return str(photo_id)


def variant_key(photo_id: uuid.UUID, variant: Variant) -> str:
    return f"{photo_id}/{variant}.webp"


class MediaSigner:
    def __init__(self, key: str, lifetime_minutes: int, base_url: str) -> None:
        self._key = key.encode()
        self.lifetime = lifetime_minutes * 60
        self.base_url = base_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaSigner:
        return cls(settings.secrets.media.url_key, settings.config.photos.url_minutes, settings.public_url())

    def url(self, photo_id: uuid.UUID, variant: Variant, now: float | None = None) -> str:
        expires = math.ceil(((now or time.time()) + self.lifetime) / _STEP_SECONDS) * _STEP_SECONDS
        return f"{self.base_url}/media/{photo_id}/{variant}.webp?exp={expires}&sig={self._sign(photo_id, variant, expires)}"

    def urls(self, photo_id: uuid.UUID) -> dict[str, str]:
        now = time.time()
        return {variant: self.url(photo_id, variant, now) for variant in VARIANTS}

    def seconds_left(self, photo_id: uuid.UUID, variant: str, expires: int, signature: str) -> int:
        """Seconds the URL stays valid; 0 when it is forged, altered or expired."""
        if variant not in VARIANTS:
            return 0
        expected = self._sign(photo_id, variant, expires)  # type: ignore[arg-type]
        left = int(expires - time.time())
        return left if hmac.compare_digest(expected, signature) and left > 0 else 0

    def _sign(self, photo_id: uuid.UUID, variant: Variant, expires: int) -> str:
        digest = hmac.new(self._key, f"{photo_id}/{variant}/{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()
