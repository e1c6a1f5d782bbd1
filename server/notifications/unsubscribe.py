"""One-click unsubscribe from digest emails (RFC 8058), by a signed link that needs no sign-in.

A digest carries ``List-Unsubscribe: <https://<host>/api/notifications/unsubscribe?token=…>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``: the mailbox provider POSTs to that URL when the person
presses its unsubscribe button, and every kind they had set to ``digest`` becomes ``off``. The same link is in
the email's text for people to open: GET shows a page with one button and changes nothing, because mail
scanners open every link they find, and opening must not unsubscribe anyone.

The token is ``base64url(user id ‖ HMAC-SHA256(unsubscribe_key, purpose ‖ user id))``. It does not expire:
the email sits in an inbox for months and its link must still stop the emails then (mailbox providers and
anti-spam law expect it to), and all it can do is turn digest emails off, which the person undoes in the
app. Rotating ``[notifications] unsubscribe_key`` in secrets.toml voids every link sent so far.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.enums import MediaType
from litestar.exceptions import ClientException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery
from litestar.response import Template

from server.pages import controller as pages
from server.pages import strings
from server.platform import database, links
from server.settings import Settings
from server.web.auth import throttle_client
from server.web.schemas import Camel

PATH = "/api/notifications/unsubscribe"
#: what a token may be used for; a key reused for another kind of link cannot make one of these
_PURPOSE = b"harvest digest unsubscribe"

# Every kind set to "digest" becomes "off", the others stay; a person with no digest kind is left untouched.
_DIGESTS_OFF = """
UPDATE notification_preferences
SET kinds = (
    SELECT jsonb_object_agg(key, CASE WHEN value = '"digest"'::jsonb THEN '"off"'::jsonb ELSE value END)
    FROM jsonb_each(kinds)
), updated_at = now()
WHERE user_id = $1 AND EXISTS (SELECT 1 FROM jsonb_each_text(kinds) WHERE value = 'digest')
"""


def _key(settings: Settings) -> bytes:
    return settings.secrets.notifications.unsubscribe_key.encode()


def unsubscribe_token(settings: Settings, user_id: uuid.UUID) -> str:
    """The person's unsubscribe token: URL-safe, the same every time."""
    return links.sign(_key(settings), _PURPOSE, user_id)


def unsubscribe_url(settings: Settings, user_id: uuid.UUID) -> str:
    """The one-click link: https on the API's public host, as RFC 8058 requires."""
    return f"{settings.public_url()}{PATH}?token={unsubscribe_token(settings, user_id)}"


def token_owner(settings: Settings, token: str) -> uuid.UUID | None:
    """Whose token this is; None for one this server did not sign (forged, garbled, cut short)."""
    return links.signed_subject(_key(settings), _PURPOSE, token)


async def turn_digests_off(connection: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Every kind the person gathers into the digest is turned off. A digest already owed is then composed as
    nothing and dropped (see ``email.compose``)."""
    await connection.execute(_DIGESTS_OFF, user_id)


class Unsubscribed(Camel):
    #: always true: a second press, or an account erased since, changes nothing and says the same
    unsubscribed: bool


async def _owner(request: Request[Any, Any, Any], token: str) -> uuid.UUID | None:
    """Whose link this is; None for one this server did not sign, which counts against the client's address.

    Only refusals count: the one-click POSTs of a whole mailbox provider come from a few addresses, and a guess
    at a 256-bit MAC gains nothing from speed anyway."""
    user_id = token_owner(request.app.state.settings, token)
    if user_id is None:
        await throttle_client(request)
    return user_id


_TITLES = {"ask": "unsubscribe_title", "done": "unsubscribed_title", "invalid": "link_invalid_title"}


def _page(request: Request[Any, Any, Any], state: str, status: int = 200, token: str = "") -> Template:
    settings: Settings = request.app.state.settings
    return Template(
        "unsubscribe.html",
        context={
            "t": strings.text(settings.config.pages.service_name),
            "static": pages.STATIC_PATH,
            "state": state,
            "title": _TITLES[state],
            "action": f"{PATH}?token={token}",
        },
        status_code=status,
    )


#: the pages' headers (no script, no Referer carrying the token on, nothing cached) on the HTML answers
_PAGE_HEADERS = [ResponseHeader(name=name, value=value) for name, value in pages.HEADERS.items()]


class UnsubscribeController(Controller):
    path = PATH
    tags = ["notifications"]

    @get("/", media_type=MediaType.HTML, response_headers=_PAGE_HEADERS)
    async def confirm(self, request: Request[Any, Any, Any], token: FromQuery[str] = "") -> Template:
        """A web page with one button that unsubscribes (it POSTs here). Opening the link changes nothing: mail
        scanners open every link in an email. An invalid link answers 400 with a page saying so."""
        if await _owner(request, token) is None:
            return _page(request, "invalid", status=400)
        return _page(request, "ask", token=token)

    @post(
        "/",
        status_code=200,
        responses={200: ResponseSpec(data_container=Unsubscribed, description="digest emails are off")},
    )
    async def unsubscribe(self, request: Request[Any, Any, Any], token: FromQuery[str] = "") -> Response[Any]:
        """One-click unsubscribe (RFC 8058), no sign-in: every notification kind set to `digest` becomes `off`.
        The body, `List-Unsubscribe=One-Click` or empty, is not read. 400 for a link this server did not sign.
        A browser (the page's button) gets a page back; everything else `{"unsubscribed": true}`."""
        user_id = await _owner(request, token)
        if user_id is None:
            raise ClientException("this unsubscribe link is not valid; use the link from the latest email")
        async with database.connection(request.app.state.db) as connection:
            await turn_digests_off(connection, user_id)
        if request.accept.best_match([MediaType.JSON, MediaType.HTML]) == MediaType.HTML:
            page = _page(request, "done")
            page.headers.update(pages.HEADERS)
            return page
        return Response(Unsubscribed(unsubscribed=True))
