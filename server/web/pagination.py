"""One way to page a list: ``?limit=`` and ``?cursor=`` in, ``{items, nextCursor}`` out (api.md).

A list handler takes a ``page: Paging`` parameter (declared with ``dependencies=paging()``), asks its service
for ``page.limit + 1`` items after ``page.after``, and answers ``page.split(...)``. A cursor is opaque to
clients: the position after the last item sent, signed with a key only the server holds and bound to the
caller and the list it came from, so it cannot be forged or edited, nor used by someone else or on another list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter

from server.auth.tokens import Claims
from server.errors import FieldError, Invalid
from server.settings import Settings

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
#: a position is a few short values; anything longer was not made here
MAX_CURSOR_LENGTH = 512

T = TypeVar("T")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Cursors:
    """Signs positions into cursors and checks cursors back into positions, for one scope (caller and list)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> Cursors:
        # A key derived for this purpose alone, so cursors need no secret of their own in secrets.toml and a
        # cursor's MAC can never pass for a media link's signature (or the other way round).
        base = settings.secrets.media.url_key.encode()
        return cls(hmac.new(base, b"harvest pagination cursors", hashlib.sha256).digest())

    def encode(self, scope: str, position: list[Any]) -> str:
        body = _b64(msgspec.json.encode(position))
        return f"{body}.{self._mac(scope, body)}"

    def decode(self, scope: str, cursor: str) -> list[Any]:
        """The position ``cursor`` holds; refused (422, naming ``cursor``) unless this server made it for ``scope``."""
        body, _, mac = cursor.partition(".")
        # Bytes, not str: compare_digest refuses non-ASCII text, and a client may send anything.
        if not hmac.compare_digest(mac.encode(), self._mac(scope, body).encode()):
            raise _bad_cursor()
        try:
            position = msgspec.json.decode(_unb64(body))
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise _bad_cursor() from None
        if not isinstance(position, list):
            raise _bad_cursor()
        return position

    def _mac(self, scope: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{scope}\n{body}".encode(), hashlib.sha256).digest())


def _bad_cursor() -> Invalid:
    return Invalid(
        "invalid value for cursor",
        errors=[FieldError("cursor", "not a cursor this list gave you; start again without one")],
    )


@dataclass(frozen=True)
class PageRequest:
    """What a list handler needs: how many items, and where the previous page ended."""

    limit: int
    #: the position of the previous page's last item (as ``split`` was told it); None on the first page
    after: list[Any] | None
    cursors: Cursors
    scope: str

    def split(self, fetched: Sequence[T], position: Callable[[T], list[Any]]) -> tuple[list[T], str | None]:
        """Items fetched with ``limit + 1``: this page's items, and the cursor to the next page (None at the end)."""
        items = list(fetched[: self.limit])
        if len(fetched) <= self.limit:
            return items, None
        return items, self.cursors.encode(self.scope, position(items[-1]))


def paging(default_limit: int = DEFAULT_LIMIT) -> dict[str, Provide]:
    """The dependency a list handler declares, ``@get(..., dependencies=paging())``; a short, fixed catalogue
    may default to a larger page so a client that never follows ``nextCursor`` still sees all of it."""

    async def page_request(
        request: Request[Any, Any, Any],
        # Named, so Litestar resolves the caller first and once (resolving it here too would admit the call twice).
        claims: NamedDependency[Claims],
        limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="how many items at most")] = default_limit,
        cursor: Annotated[
            str | None,
            Parameter(min_length=1, max_length=MAX_CURSOR_LENGTH, description="`nextCursor` of the previous page"),
        ] = None,
    ) -> PageRequest:
        """The page a list request asks for; its cursor is checked against the caller and the list's path."""
        # The path names the list, ids included: a cursor of one conversation does not page another.
        scope = f"{claims.user_id}\n{request.url.path}"
        cursors = Cursors.from_settings(request.app.state.settings)
        after = cursors.decode(scope, cursor) if cursor is not None else None
        return PageRequest(limit=limit, after=after, cursors=cursors, scope=scope)

    return {"page": Provide(page_request)}


#: the handler's parameter type: name the parameter ``page``
Paging = NamedDependency[PageRequest]
