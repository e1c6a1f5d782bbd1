"""Who is calling: the bearer access token, checked against revoked sessions; a dependency and role guards."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from server.auth.service import AuthService
from server.auth.tokens import Claims, TokenIssuer
from server.errors import Forbidden, Unauthorized
from server.matching import activity


def auth_service(state: State) -> AuthService:
    return AuthService(state.db, state.valkey, state.token_issuer, state.settings.config.limits)


def client_ip(request: Request[Any, Any, Any]) -> str:
    """The client's address; behind nginx, uvicorn takes it from X-Forwarded-For, which nginx sets."""
    return request.client.host if request.client else "unknown"


async def throttle_client(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: sign-in endpoints and the account pages count against the client's address."""
    await auth_service(request.app.state).throttle_client(client_ip(request))


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Claims:
    """The caller's verified claims, worked out once per request and shared by guards and handlers."""
    request_state = connection.state
    if "claims" not in request_state:
        request_state["claims"] = await _verify_caller(connection, connection.app.state)
    claims: Claims = request_state["claims"]
    return claims


async def current_claims(request: Request[Any, Any, Any]) -> Claims:
    return await authenticate(request)


def requires_role(*roles: str) -> Guard:
    """A guard admitting only signed-in callers with one of ``roles`` (403 for the others)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        claims = await authenticate(connection)
        if claims.role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role")

    return guard


async def _verify_caller(connection: ASGIConnection[Any, Any, Any, Any], state: State) -> Claims:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send `Authorization: Bearer <accessToken>`")
    issuer: TokenIssuer = state.token_issuer
    claims = issuer.verify(token.strip())
    await auth_service(state).admit(claims)
    if claims.role == "user":
        # Staff have no place in decks; for everyone else this writes at most once every few minutes.
        await activity.note_active(claims.user_id, state.db)
    return claims


DEPENDENCIES = {
    "auth": Provide(auth_service, sync_to_thread=False),
    "claims": Provide(current_claims),
}

#: handler parameter types: name the parameter `auth` or `claims` to receive them
Auth = NamedDependency[AuthService]
Caller = NamedDependency[Claims]
