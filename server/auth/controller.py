"""``/api/auth``: thin handlers over AuthService."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from server.auth.schemas import (
    AuthResponse,
    ForgotPasswordRequest,
    LoginRequest,
    OauthRequest,
    RefreshRequest,
    RegisterRequest,
    ResetPasswordRequest,
    SessionPage,
    TokenPair,
    VerifyEmailRequest,
)
from server.auth.service import session_position
from server.web.auth import Auth, Caller, client_ip, throttle_client
from server.web.pagination import Paging, paging


def _device(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("user-agent", "")


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]
    #: tokens and session lists must never be kept by a cache on the way or on the device
    cache_control = CacheControlHeader(no_store=True)

    @post("/register", before_request=throttle_client, status_code=HTTP_201_CREATED)
    async def register(
        self, data: JSONBody[RegisterRequest], auth: Auth, request: Request[Any, Any, Any]
    ) -> AuthResponse:
        return await auth.register(data, _device(request), client_ip(request))

    @post("/login", before_request=throttle_client, status_code=HTTP_200_OK)
    async def login(self, data: JSONBody[LoginRequest], auth: Auth, request: Request[Any, Any, Any]) -> AuthResponse:
        return await auth.login(data, _device(request), client_ip(request))

    @post("/oauth/{provider:str}", before_request=throttle_client, status_code=HTTP_200_OK)
    async def oauth(
        self, provider: FromPath[str], data: JSONBody[OauthRequest], auth: Auth, request: Request[Any, Any, Any]
    ) -> AuthResponse:
        return await auth.oauth(
            provider, data, request.app.state.settings.config.oauth, _device(request), client_ip(request)
        )

    @post("/refresh", before_request=throttle_client, status_code=HTTP_200_OK)
    async def refresh(self, data: JSONBody[RefreshRequest], auth: Auth) -> TokenPair:
        return await auth.refresh(data.refresh_token)

    @post("/forgot-password", before_request=throttle_client, status_code=HTTP_202_ACCEPTED)
    async def forgot_password(self, data: JSONBody[ForgotPasswordRequest], auth: Auth) -> None:
        await auth.forgot_password(data.email)

    @post("/reset-password", before_request=throttle_client, status_code=HTTP_204_NO_CONTENT)
    async def reset_password(self, data: JSONBody[ResetPasswordRequest], auth: Auth) -> None:
        await auth.reset_password(data.token, data.new_password)

    @post("/verify-email", before_request=throttle_client, status_code=HTTP_204_NO_CONTENT)
    async def verify_email(self, data: JSONBody[VerifyEmailRequest], auth: Auth) -> None:
        await auth.verify_email(data.token)

    @post("/logout", status_code=HTTP_204_NO_CONTENT)
    async def logout(self, auth: Auth, claims: Caller) -> None:
        await auth.logout(claims)

    @get("/sessions", dependencies=paging())
    async def sessions(self, auth: Auth, claims: Caller, page: Paging) -> SessionPage:
        items, next_cursor = page.split(await auth.sessions(claims, page.limit + 1, page.after), session_position)
        return SessionPage(items=items, next_cursor=next_cursor)

    @delete("/sessions/{session_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def end_session(self, session_id: FromPath[uuid.UUID], auth: Auth, claims: Caller) -> None:
        await auth.end_session(claims, session_id)
