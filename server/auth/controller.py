"""``/api/auth``: thin handlers over AuthService."""

from __future__ import annotations

import uuid

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from server.auth.schemas import AuthResponse, LoginRequest, RefreshRequest, RegisterRequest, SessionPage, TokenPair
from server.web.auth import Auth, Caller


def _device(request: Request) -> str:
    return request.headers.get("user-agent", "")


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]

    @post("/register", status_code=HTTP_201_CREATED)
    async def register(self, data: JSONBody[RegisterRequest], auth: Auth, request: Request) -> AuthResponse:
        return await auth.register(data, _device(request))

    @post("/login", status_code=HTTP_200_OK)
    async def login(self, data: JSONBody[LoginRequest], auth: Auth, request: Request) -> AuthResponse:
        return await auth.login(data, _device(request))

    @post("/refresh", status_code=HTTP_200_OK)
    async def refresh(self, data: JSONBody[RefreshRequest], auth: Auth) -> TokenPair:
        return await auth.refresh(data.refresh_token)

    @post("/logout", status_code=HTTP_204_NO_CONTENT)
    async def logout(self, auth: Auth, claims: Caller) -> None:
        await auth.logout(claims)

    @get("/sessions")
    async def sessions(self, auth: Auth, claims: Caller) -> SessionPage:
        return SessionPage(items=await auth.sessions(claims))

    @delete("/sessions/{session_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def end_session(self, session_id: FromPath[uuid.UUID], auth: Auth, claims: Caller) -> None:
        await auth.end_session(claims, session_id)
