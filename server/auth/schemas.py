"""Request and response bodies of the auth endpoints (camelCase on the wire, as api.md fixes them)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from server.auth.roles import Role
from server.web.schemas import INVISIBLE, ONE_LINE, Camel

Gender = Literal["woman", "man", "nonbinary"]
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=254,
        pattern=rf"^\s*[^@\s\x00-\x1f\x7f{INVISIBLE}]+@[^@\s\x00-\x1f\x7f{INVISIBLE}]+\.[^@\s\x00-\x1f\x7f{INVISIBLE}]+\s*$",
    ),
]
FirstName = Annotated[str, ONE_LINE, msgspec.Meta(min_length=1, max_length=50)]
Password = Annotated[str, msgspec.Meta(max_length=1024)]


class RegisterRequest(Camel):
    email: Email
    password: Password
    first_name: FirstName
    date_of_birth: dt.date
    gender: Gender


class LoginRequest(Camel):
    email: Email
    password: Password
    #: the deviceToken an earlier sign-in on this device returned; strangers' failures never refuse it
    device_token: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class RefreshRequest(Camel):
    refresh_token: Annotated[str, msgspec.Meta(min_length=20, max_length=200)]


class OauthRequest(Camel):
    id_token: Annotated[str, msgspec.Meta(min_length=20, max_length=8192)]
    #: required when the sign-in creates an account
    date_of_birth: dt.date | None = None
    gender: Gender | None = None
    first_name: FirstName | None = None


class ForgotPasswordRequest(Camel):
    email: Email


class ResetPasswordRequest(Camel):
    token: Annotated[str, msgspec.Meta(min_length=20, max_length=200)]
    new_password: Password


class VerifyEmailRequest(Camel):
    token: Annotated[str, msgspec.Meta(min_length=20, max_length=200)]


class UserView(Camel):
    id: uuid.UUID
    email: str
    first_name: str
    gender: Gender | None
    role: Role
    email_verified: bool
    created_at: dt.datetime


class TokenPair(Camel):
    access_token: str
    refresh_token: str
    #: seconds until the access token expires
    expires_in: int


class AuthResponse(TokenPair):
    user: UserView
    #: keep it on the device and send it with later logins (see LoginRequest.deviceToken)
    device_token: str


class SessionView(Camel):
    id: uuid.UUID
    device: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    #: the login this request was made with
    current: bool


class SessionPage(Camel):
    items: list[SessionView]
    next_cursor: str | None = None
