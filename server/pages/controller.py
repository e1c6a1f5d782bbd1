"""The web pages: thin handlers over AuthService, rendered from Jinja templates, each form CSRF-protected.

The pages carry one-time tokens in their URLs, so every answer is ``no-store``, sends no Referer on to
other sites, and allows no script at all. The JSON API is untouched: CSRF applies to this router only.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import ResponseHeader
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.params import Body, FromQuery
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.types import ExceptionHandlersMap

from server.auth.passwords import MAX_LENGTH, MIN_LENGTH
from server.auth.schemas import Email
from server.auth.service import AuthService
from server.errors import HarvestError, Invalid, RateLimited
from server.pages import strings
from server.settings import Settings
from server.web.auth import Auth, throttle_client

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC_PATH = "/pages/static"
#: no script at all; style and images from this host only; forms post back here only; never framed
POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    # The page's URL holds a one-time token: it must not travel to the privacy policy's host in a Referer.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CSRF_COOKIE = "harvest_csrf"
FormBody = Body(media_type=RequestEncodingType.URL_ENCODED)


@dataclass
class ResetForm:
    token: str
    password: str
    repeat: str


@dataclass
class VerifyForm:
    token: str


@dataclass
class ForgotForm:
    email: Email


def _text(request: Request[Any, Any, Any]) -> dict[str, str]:
    settings: Settings = request.app.state.settings
    return strings.text(settings.config.pages.service_name)


def _page(request: Request[Any, Any, Any], name: str, status: int = 200, **context: Any) -> Template:
    return Template(
        f"{name}.html",
        context={"t": _text(request), "static": STATIC_PATH, "min": MIN_LENGTH, "max": MAX_LENGTH, **context},
        status_code=status,
    )


def _link_invalid(request: Request[Any, Any, Any], purpose: str) -> Template:
    """A used or expired link; for a reset, the form asking for a new one is right there."""
    return _page(request, "link_invalid", status=410, purpose=purpose)


@get("/", sync_to_thread=False)
def landing(request: Request[Any, Any, Any]) -> Template:
    pages = request.app.state.settings.config.pages
    return _page(request, "landing", privacy_url=pages.privacy_policy_url, terms_url=pages.terms_url)


@get("/reset-password", before_request=throttle_client)
async def reset_form(request: Request[Any, Any, Any], token: FromQuery[str] = "") -> Template:
    if not token or not await AuthService.email_token_usable(token, "reset"):
        return _link_invalid(request, "reset")
    return _page(request, "reset_password", token=token, errors=[])


@post("/reset-password", before_request=throttle_client, status_code=200)
async def reset_submit(request: Request[Any, Any, Any], auth: Auth, data: Annotated[ResetForm, FormBody]) -> Template:
    t = _text(request)
    if data.password != data.repeat:
        return _page(request, "reset_password", status=422, token=data.token, errors=[t["passwords_differ"]])
    try:
        await auth.reset_password(data.token, data.password)
    except Invalid as refused:
        if any(error.field == "token" for error in refused.errors):
            return _link_invalid(request, "reset")
        # The API's own rule checks (server/auth/passwords.py), worded for the field on this form.
        errors = [f"{t['new_password']} {error.message}." for error in refused.errors]
        return _page(request, "reset_password", status=422, token=data.token, errors=errors)
    return _page(request, "reset_done")


@get("/verify-email", before_request=throttle_client)
async def verify_form(request: Request[Any, Any, Any], token: FromQuery[str] = "") -> Template:
    # Only shows the button: mail scanners open links, and opening must not confirm anything.
    if not token or not await AuthService.email_token_usable(token, "verify"):
        return _link_invalid(request, "verify")
    return _page(request, "verify_email", token=token)


@post("/verify-email", before_request=throttle_client, status_code=200)
async def verify_submit(request: Request[Any, Any, Any], auth: Auth, data: Annotated[VerifyForm, FormBody]) -> Template:
    try:
        await auth.verify_email(data.token)
    except Invalid:
        return _link_invalid(request, "verify")
    return _page(request, "verified")


@post("/forgot-password", before_request=throttle_client, status_code=200)
async def forgot_submit(request: Request[Any, Any, Any], auth: Auth, data: Annotated[ForgotForm, FormBody]) -> Template:
    # The same answer whether or not the account exists, as the API's 202 (see AuthService.forgot_password).
    await auth.forgot_password(data.email)
    return _page(request, "reset_requested")


def _refused(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors on a page answer as a page (the API's problem documents are for programs)."""
    t = _text(request)
    headers = dict(HEADERS)
    if isinstance(exc, RateLimited):
        status, message = 429, t["error_rate_limited"]
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, PermissionDeniedException):
        status, message = 403, t["error_refused"]
    else:
        status = exc.status if isinstance(exc, HarvestError) else getattr(exc, "status_code", 500)
        message = t["error_other"]
    page = _page(request, "error", status=status, message=message)
    page.headers.update(headers)
    return page


HANDLERS: ExceptionHandlersMap = {HarvestError: _refused, HTTPException: _refused}


def csrf_secret(settings: Settings) -> str:
    """A key of its own for the CSRF tokens, derived from the current signing key (rotates with it)."""
    assert settings.secrets.jwt is not None, "the API process is always given its signing keys"
    key = settings.secrets.jwt.keys[0].secret.encode()
    return hmac.new(key, b"harvest pages csrf", hashlib.sha256).hexdigest()


def routers(settings: Settings) -> list[Router]:
    """The pages and their stylesheet, outside the OpenAPI document; the CSRF cookie only where a form is."""
    csrf = CSRFConfig(
        secret=csrf_secret(settings),
        cookie_name=CSRF_COOKIE,
        cookie_secure=True,
        cookie_httponly=True,
        cookie_samesite="strict",
        header_name="x-harvest-csrf",
    )
    common: dict[str, Any] = {
        "include_in_schema": False,
        "exception_handlers": HANDLERS,
        "response_headers": [ResponseHeader(name=name, value=value) for name, value in HEADERS.items()],
    }
    return [
        Router("/", route_handlers=[landing], **common),
        Router(
            "/",
            route_handlers=[reset_form, reset_submit, verify_form, verify_submit, forgot_submit],
            middleware=[DefineMiddleware(CSRFMiddleware, config=csrf)],
            **common,
        ),
        create_static_files_router(STATIC_PATH, directories=[HERE / "static"], include_in_schema=False),
    ]
