"""Sign-up, login, token refresh and the lifecycle of sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

from server.auth import oauth, passwords
from server.auth.accounts import age_on
from server.auth.schemas import (
    AuthResponse,
    LoginRequest,
    OauthRequest,
    RegisterRequest,
    SessionView,
    TokenPair,
    UserView,
)
from server.auth.tables import EmailToken, RefreshToken, Session, User
from server.auth.tokens import ACCESS_SECONDS, REFRESH_SECONDS, Claims, TokenIssuer, hash_token, new_secret_token
from server.errors import Conflict, FieldError, Forbidden, Invalid, NotFound, Unauthorized
from server.platform.jobs import JobQueue
from server.platform.ratelimit import RateLimiter
from server.settings import LimitsSection, OauthSection

log = logging.getLogger("harvest.auth")
MIN_AGE = 18
_REVOKED = "auth:revoked:{}"
_WRONG_LOGIN = "the email or password is wrong"
_BAD_REFRESH = "the refresh token is not valid; sign in again"
_BAD_LINK = "this link is invalid, used or expired; ask for a new one"
#: how long an emailed token stays valid, by purpose
EMAIL_TOKEN_LIFETIME = {"verify": dt.timedelta(hours=24), "reset": dt.timedelta(hours=1)}
EMAIL_JOB = "auth.email"


async def issue_email_token(user_id: uuid.UUID, purpose: str) -> str:
    """A single-use token for an email; only its hash is stored."""
    token, token_hash = new_secret_token()
    expires = _now() + EMAIL_TOKEN_LIFETIME[purpose]
    await EmailToken.insert(
        EmailToken(id=uuid.uuid4(), user=user_id, purpose=purpose, token_hash=token_hash, expires_at=expires)
    )
    return token


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _user_view(row: dict[str, Any]) -> UserView:
    return UserView(
        id=row["id"],
        email=row["email"],
        first_name=row["first_name"],
        gender=row["gender"],
        role=row["role"],
        email_verified=row["email_verified_at"] is not None,
        created_at=row["created_at"],
    )


def _account_key(email: str) -> str:
    """Rate-limit keys name accounts by a hash, so Valkey holds no email addresses."""
    return hashlib.sha256(email.encode()).hexdigest()[:32]


class AuthService:
    def __init__(self, db: PostgresEngine, valkey: Valkey, issuer: TokenIssuer, limits: LimitsSection) -> None:
        self.db = db
        self.valkey = valkey
        self.issuer = issuer
        self.limits = limits
        self.limiter = RateLimiter(valkey)

    async def throttle_client(self, ip: str) -> None:
        """Every /api/auth request counts against its client address."""
        await self.limiter.hit("auth-ip", ip, self.limits.auth_requests_per_ip_per_minute, 60)

    async def admit(self, claims: Claims) -> None:
        """A signed-in call: its login must still be active, and its user within the per-minute limit.

        Both are answered by Valkey in one round trip; when Valkey cannot answer, Postgres says whether
        the login was ended (and the limit is not applied).
        """
        limit = self.limits.requests_per_user_per_minute
        revoked = _REVOKED.format(claims.session_id)
        replies = await self.limiter.hit("user", str(claims.user_id), limit, 60, also=[("EXISTS", revoked)])
        active = not replies[0] if replies is not None else await self._active_in_postgres(claims.session_id)
        if not active:
            raise Unauthorized("this login has ended; sign in again")

    async def register(self, request: RegisterRequest, device: str, ip: str) -> AuthResponse:
        await self.limiter.hit("register-ip", ip, self.limits.registrations_per_ip_per_hour, 3600)
        email = normalise_email(request.email)
        errors = passwords.problems(request.password, email)
        if age_on(request.date_of_birth, _now().date()) < MIN_AGE:
            errors.append(FieldError("dateOfBirth", f"you must be at least {MIN_AGE} to join"))
        if errors:
            raise Invalid(f"invalid value for {', '.join(e.field for e in errors)}", errors=errors)
        password_hash = await passwords.hash_password(request.password)
        now = _now()
        try:
            async with self.db.transaction():
                [row] = await User.insert(
                    User(
                        id=uuid.uuid4(),
                        email=email,
                        password_hash=password_hash,
                        first_name=request.first_name.strip(),
                        date_of_birth=request.date_of_birth,
                        gender=request.gender,
                        created_at=now,
                    )
                ).returning(*User.all_columns())
                pair = await self.open_session(row["id"], row["role"], device)
                await JobQueue.enqueue(EMAIL_JOB, {"userId": str(row["id"]), "purpose": "verify"})
        except asyncpg.UniqueViolationError:
            raise Conflict("an account with this email already exists; sign in instead") from None
        return AuthResponse(user=_user_view(row), **_pair_fields(pair))

    async def login(self, request: LoginRequest, device: str, ip: str) -> AuthResponse:
        email = normalise_email(request.email)
        account = _account_key(email)
        limits = self.limits
        window = limits.login_failure_window_minutes * 60
        # Checked before the password, counted only on failure: a right password never locks anyone out
        # until the window is full of wrong ones.
        await self.limiter.check("login-fail", f"{account}:{ip}", limits.login_failures_per_account_ip, window)
        await self.limiter.check("login-fail-account", account, limits.login_failures_per_account_per_hour, 3600)
        row = await User.select(*User.all_columns()).where(User.email == email).first()
        matches, rehashed = await passwords.verify(row["password_hash"] if row else None, request.password)
        if not row or not matches:
            await self.limiter.hit("login-fail", f"{account}:{ip}", 10**9, window)
            await self.limiter.hit("login-fail-account", account, 10**9, 3600)
            raise Unauthorized(_WRONG_LOGIN)
        await self.limiter.clear("login-fail", f"{account}:{ip}")
        async with self.db.transaction():
            if rehashed:
                await User.update({User.password_hash: rehashed}).where(User.id == row["id"])
            pair = await self.open_session(row["id"], row["role"], device)
        return AuthResponse(user=_user_view(row), **_pair_fields(pair))

    async def oauth(
        self, provider: str, request: OauthRequest, oauth_settings: OauthSection, device: str
    ) -> AuthResponse:
        """Sign in with a provider: link to the account with the same (verified) email, or create one."""
        identity = await oauth.verify(provider, request.id_token, oauth_settings)
        email = normalise_email(identity.email)
        row = await User.select(*User.all_columns()).where(User.email == email).first()
        async with self.db.transaction():
            if row is None:
                row = await self._create_from_provider(email, identity, request)
            elif row["email_verified_at"] is None:
                await User.update({User.email_verified_at: _now()}).where(User.id == row["id"])
            pair = await self.open_session(row["id"], row["role"], device)
        return AuthResponse(user=_user_view(row), **_pair_fields(pair))

    async def _create_from_provider(
        self, email: str, identity: oauth.Identity, request: OauthRequest
    ) -> dict[str, Any]:
        errors = [
            FieldError(f, "is required for a new account")
            for f, v in (("dateOfBirth", request.date_of_birth), ("gender", request.gender))
            if v is None
        ]
        if request.date_of_birth and age_on(request.date_of_birth, _now().date()) < MIN_AGE:
            errors.append(FieldError("dateOfBirth", f"you must be at least {MIN_AGE} to join"))
        if errors:
            raise Invalid(f"invalid value for {', '.join(e.field for e in errors)}", errors=errors)
        # The provider vouches for this person; no password exists until they set one by reset.
        unusable = await passwords.unusable_hash()
        now = _now()
        [row] = await User.insert(
            User(
                id=uuid.uuid4(),
                email=email,
                password_hash=unusable,
                first_name=(request.first_name or identity.given_name or email.split("@", maxsplit=1)[0])[:50],
                date_of_birth=request.date_of_birth,
                gender=request.gender,
                email_verified_at=now,
                created_at=now,
            )
        ).returning(*User.all_columns())
        return row

    async def refresh(self, token: str) -> TokenPair:
        """Rotate the refresh token. A token presented twice means it leaked: the whole login is ended."""
        now = _now()
        async with self.db.transaction():
            rows = await RefreshToken.raw(
                'SELECT r.id, r.session, r.expires_at, r.used_at, s.revoked_at, s."user" AS user_id, u.role '
                'FROM refresh_tokens r JOIN auth_sessions s ON s.id = r.session JOIN users u ON u.id = s."user" '
                "WHERE r.token_hash = {} FOR UPDATE OF r, s",
                hash_token(token),
            )
            if not rows or rows[0]["revoked_at"] is not None or rows[0]["expires_at"] <= now:
                raise Unauthorized(_BAD_REFRESH)
            found = rows[0]
            if found["used_at"] is not None:
                await self._revoke_in_transaction([found["session"]], now)
                reused = True
            else:
                reused = False
                await RefreshToken.update({RefreshToken.used_at: now}).where(RefreshToken.id == found["id"])
                await Session.update({Session.last_seen_at: now}).where(Session.id == found["session"])
                pair = await self._issue(found["session"], found["user_id"], found["role"])
        if reused:
            log.warning("refresh token reused; session revoked", extra={"session": str(found["session"])})
            await self._mark_revoked([found["session"]])
            raise Unauthorized(_BAD_REFRESH)
        return pair

    async def forgot_password(self, email: str) -> None:
        """Queue a reset email when the account exists; the caller always answers 202 either way."""
        email = normalise_email(email)
        await self.limiter.hit("reset-email", _account_key(email), self.limits.reset_requests_per_email_per_hour, 3600)
        row = await User.select(User.id).where(User.email == email).first()
        if row:
            await JobQueue.enqueue(EMAIL_JOB, {"userId": str(row["id"]), "purpose": "reset"})

    async def reset_password(self, token: str, new_password: str) -> None:
        """Set a new password from an emailed token and end every login of the account."""
        now = _now()
        async with self.db.transaction():
            found = await self._take_email_token(token, "reset", now)
            user = await User.select(User.email).where(User.id == found["user"]).first()
            errors = passwords.problems(new_password, user["email"], field="newPassword")
            if errors:
                raise Invalid("invalid value for newPassword", errors=errors)
            password_hash = await passwords.hash_password(new_password)
            await User.update({User.password_hash: password_hash}).where(User.id == found["user"])
            sessions = await Session.select(Session.id).where(
                (Session.user == found["user"]) & Session.revoked_at.is_null()
            )
            session_ids = [row["id"] for row in sessions]
            if session_ids:
                await self._revoke_in_transaction(session_ids, now)
        await self._mark_revoked(session_ids)

    async def verify_email(self, token: str) -> None:
        now = _now()
        async with self.db.transaction():
            found = await self._take_email_token(token, "verify", now)
            await User.update({User.email_verified_at: now}).where(
                (User.id == found["user"]) & User.email_verified_at.is_null()
            )

    @staticmethod
    async def _take_email_token(token: str, purpose: str, now: dt.datetime) -> dict[str, Any]:
        """Mark a valid token used (inside the caller's transaction) or refuse it."""
        rows = await EmailToken.raw(
            "UPDATE email_tokens SET used_at = {} WHERE token_hash = {} AND purpose = {} "
            'AND used_at IS NULL AND expires_at > {} RETURNING id, "user"',
            now,
            hash_token(token),
            purpose,
            now,
        )
        if not rows:
            raise Invalid(_BAD_LINK, errors=[FieldError("token", _BAD_LINK)])
        return rows[0]

    async def confirm_password(self, claims: Claims, password: str) -> None:
        """For destructive actions: the caller proves they still know the password (403 otherwise)."""
        row = await User.select(User.password_hash).where(User.id == claims.user_id).first()
        matches, _ = await passwords.verify(row["password_hash"] if row else None, password)
        if not matches:
            raise Forbidden("the password is wrong")

    async def end_all_sessions(self, user_id: uuid.UUID) -> None:
        rows = await Session.select(Session.id).where((Session.user == user_id) & Session.revoked_at.is_null())
        if rows:
            await self.revoke([row["id"] for row in rows])

    async def stats(self) -> dict[str, int]:
        day_ago = _now() - dt.timedelta(days=1)
        return {
            "users": await User.count(),
            "registrationsLast24h": await User.count().where(User.created_at > day_ago),
            "activeSessions": await Session.count().where(
                Session.revoked_at.is_null() & (Session.last_seen_at > day_ago)
            ),
        }

    async def logout(self, claims: Claims) -> None:
        await self.revoke([claims.session_id])

    async def sessions(self, claims: Claims) -> list[SessionView]:
        rows = (
            await Session.select(Session.id, Session.device, Session.created_at, Session.last_seen_at)
            .where((Session.user == claims.user_id) & Session.revoked_at.is_null())
            .order_by(Session.last_seen_at, ascending=False)
        )
        return [SessionView(current=row["id"] == claims.session_id, **row) for row in rows]

    async def end_session(self, claims: Claims, session_id: uuid.UUID) -> None:
        owned = await Session.exists().where(
            (Session.id == session_id) & (Session.user == claims.user_id) & Session.revoked_at.is_null()
        )
        if not owned:
            raise NotFound("no such session")
        await self.revoke([session_id])

    async def revoke(self, session_ids: list[uuid.UUID]) -> None:
        async with self.db.transaction():
            await self._revoke_in_transaction(session_ids, _now())
        await self._mark_revoked(session_ids)

    @staticmethod
    async def _active_in_postgres(session_id: uuid.UUID) -> bool:
        return await Session.exists().where((Session.id == session_id) & Session.revoked_at.is_null())

    async def open_session(self, user_id: uuid.UUID, role: str, device: str) -> TokenPair:
        """A new login for an account whose identity is already established."""
        now = _now()
        session_id = uuid.uuid4()
        await Session.insert(
            Session(id=session_id, user=user_id, device=device[:200], created_at=now, last_seen_at=now)
        )
        return await self._issue(session_id, user_id, role)

    async def _issue(self, session_id: uuid.UUID, user_id: uuid.UUID, role: str) -> TokenPair:
        token, token_hash = new_secret_token()
        expires = _now() + dt.timedelta(seconds=REFRESH_SECONDS)
        await RefreshToken.insert(
            RefreshToken(id=uuid.uuid4(), session=session_id, token_hash=token_hash, expires_at=expires)
        )
        access = self.issuer.access_token(user_id, session_id, role)
        return TokenPair(access_token=access, refresh_token=token, expires_in=ACCESS_SECONDS)

    @staticmethod
    async def _revoke_in_transaction(session_ids: list[uuid.UUID], now: dt.datetime) -> None:
        await Session.update({Session.revoked_at: now}).where(
            Session.id.is_in(session_ids) & Session.revoked_at.is_null()
        )
        await RefreshToken.delete().where(RefreshToken.session.is_in(session_ids) & RefreshToken.used_at.is_null())

    async def _mark_revoked(self, session_ids: list[uuid.UUID]) -> None:
        """Access tokens live 15 minutes, so the mark needs to outlive them by no more than that."""
        try:
            async with self.valkey.pipeline(transaction=False) as pipe:
                for session_id in session_ids:
                    pipe.set(_REVOKED.format(session_id), "1", ex=ACCESS_SECONDS + 60)
                await pipe.execute()
        except (ValkeyError, OSError):
            log.warning("could not mark sessions revoked in valkey; postgres still answers", exc_info=True)


def _pair_fields(pair: TokenPair) -> dict[str, Any]:
    return {"access_token": pair.access_token, "refresh_token": pair.refresh_token, "expires_in": pair.expires_in}
