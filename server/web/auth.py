"""Who is calling: the bearer access token, checked against revoked sessions, as a Litestar dependency."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from server.auth.service import AuthService
from server.auth.tokens import Claims, TokenIssuer
from server.errors import Unauthorized


def auth_service(state: State) -> AuthService:
    return AuthService(state.db, state.valkey, state.token_issuer, state.settings.config.limits)


async def current_claims(request: Request, state: State) -> Claims:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send `Authorization: Bearer <accessToken>`")
    issuer: TokenIssuer = state.token_issuer
    claims = issuer.verify(token.strip())
    service = auth_service(state)
    if not await service.session_is_active(claims.session_id):
        raise Unauthorized("this login has ended; sign in again")
    await service.throttle_user(claims)
    return claims


DEPENDENCIES = {
    "auth": Provide(auth_service, sync_to_thread=False),
    "claims": Provide(current_claims),
}

#: handler parameter types: name the parameter `auth` or `claims` to receive them
Auth = NamedDependency[AuthService]
Caller = NamedDependency[Claims]
