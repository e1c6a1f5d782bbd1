"""Links that act without a sign-in (unsubscribe, appeal): a token that names one id and proves this server made
it for one purpose. The token is the id and an HMAC-SHA256 over the purpose and the id, URL-safe; a key used for
several kinds of link cannot turn one kind into another, and a token cut short or altered names nothing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid

_MAC_BYTES = hashlib.sha256().digest_size


def _mac(key: bytes, purpose: bytes, subject: uuid.UUID) -> bytes:
    return hmac.new(key, purpose + b"\n" + subject.bytes, hashlib.sha256).digest()


def sign(key: bytes, purpose: bytes, subject: uuid.UUID) -> str:
    """The token for ``subject``: the same every time."""
    return base64.urlsafe_b64encode(subject.bytes + _mac(key, purpose, subject)).rstrip(b"=").decode()


def signed_subject(key: bytes, purpose: bytes, token: str) -> uuid.UUID | None:
    """The id a token names, if this key made it for this purpose; None for any other (forged, garbled, cut)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 16 + _MAC_BYTES:
        return None
    subject = uuid.UUID(bytes=raw[:16])
    return subject if hmac.compare_digest(raw[16:], _mac(key, purpose, subject)) else None


class ExpiringLinks:
    """Short-lived links to private objects a moderator looks at (a selfie, a report's evidence): a path, an expiry,
    and a token over the object's id and the expiry, made with the media links' key for ``purpose`` (so no kind of
    link passes for another). The signature is the permission, so a terminal or an <img> can fetch it without a
    token; it runs out after `[photos] url_minutes`."""

    def __init__(self, key: str, lifetime_minutes: int, base_url: str, purpose: bytes) -> None:
        self._key = key.encode()
        self._lifetime = lifetime_minutes * 60
        self._base_url = base_url.rstrip("/")
        self._purpose = purpose

    def url(self, path: str, subject: uuid.UUID) -> str:
        expires = str(int(time.time()) + self._lifetime)
        token = sign(self._key, self._purpose + expires.encode(), subject)
        return f"{self._base_url}{path}?exp={expires}&sig={token}"

    def valid(self, subject: uuid.UUID, expires: str, token: str) -> bool:
        """Whether the link for ``subject`` is this server's, for this purpose, and not yet expired."""
        signed = signed_subject(self._key, self._purpose + expires.encode(), token)
        return signed == subject and expires.isdigit() and int(expires) > time.time()
