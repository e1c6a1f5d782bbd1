"""Links that act without a sign-in (unsubscribe, appeal): a token that names one id and proves this server made
it for one purpose. The token is the id and an HMAC-SHA256 over the purpose and the id, URL-safe; a key used for
several kinds of link cannot turn one kind into another, and a token cut short or altered names nothing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
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
