"""The domain error tree. Services raise these; ``server.web.problems`` turns them into RFC 9457 bodies.

HarvestError (500)
├── Invalid (422)          a request that cannot be acted on; ``errors`` names the fields
├── Unauthorized (401)
├── Forbidden (403)
├── NotFound (404)         also for things the caller may not see: existence is not revealed
├── Conflict (409)
├── TooLarge (413)
├── UnsupportedMedia (415)
├── RateLimited (429)      carries ``retry_after`` seconds
└── Unavailable (503)      a dependency is down
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass
class HarvestError(Exception):
    detail: str = ""
    errors: list[FieldError] = field(default_factory=list)
    #: further members of the problem body (camelCase), e.g. a limit's ``remaining`` and ``resetsAt``
    extensions: dict[str, Any] = field(default_factory=dict)
    status = 500
    title = "Internal error"
    slug = "internal"

    def __str__(self) -> str:
        return self.detail or self.title


class Invalid(HarvestError):
    status, title, slug = 422, "Invalid request", "invalid"


class Unauthorized(HarvestError):
    status, title, slug = 401, "Not authenticated", "unauthorized"


class Forbidden(HarvestError):
    status, title, slug = 403, "Not allowed", "forbidden"


class NotFound(HarvestError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(HarvestError):
    status, title, slug = 409, "Conflict", "conflict"


class TooLarge(HarvestError):
    status, title, slug = 413, "Too large", "too-large"


class UnsupportedMedia(HarvestError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media"


@dataclass
class RateLimited(HarvestError):
    retry_after: int = 1
    status, title, slug = 429, "Too many requests", "rate-limited"


class Unavailable(HarvestError):
    status, title, slug = 503, "Service unavailable", "unavailable"
