"""Sign-up, login, token refresh and the lifecycle of sessions."""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
import uuid
from typing import Any

import asyncpg
import msgspec
from piccolo.columns.combination import WhereRaw
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

from server.auth import oauth, passwords
from server.auth.accounts import birth_date_problems
from server.auth.oauth import Identity
from server.auth.schemas import (
    AuthResponse,
    FirstName,
    LoginRequest,
    OauthRequest,
    RegisterRequest,
    SessionView,
    TokenPair,
    UserView,
)
from server.auth.tables import EmailToken, RefreshToken, Session, User
from server.auth.throttle import LoginThrottle, account_key
from server.auth.tokens import ACCESS_SECONDS, REFRESH_SECONDS, Claims, TokenIssuer, hash_token, new_secret_token
from server.errors import Conflict, FieldError, Forbidden, Invalid, NotFound, Unauthorized
from server.moderation import measures
from server.platform import database
from server.platform.events import publish
from server.platform.pubsub import SESSION_ENDED, session_channel
from server.platform.ratelimit import RateLimiter
from server.settings import LimitsSection, OauthSection

log = logging.getLogger("harvest.auth")
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
    """The one form an address is stored and looked up in: NFKC folds look-alikes (fullwidth letters,
    ligatures) into their plain form, so they cannot become a second account."""
    return unicodedata.normalize("NFKC", email).strip().lower()


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


class AuthService:
    def __init__(self, db: PostgresEngine, valkey: Valkey, issuer: TokenIssuer, limits: LimitsSection) -> None:
        self.db = db
        self.valkey = valkey
        self.issuer = issuer
        self.limits = limits
        self.limiter = RateLimiter(valkey)
        self.throttle = LoginThrottle(valkey, limits)

    async def throttle_client(self, ip: str) -> None:
        """Every /api/auth request counts against its client address."""
        await self.limiter.hit("auth-ip", ip, self.limits.auth_requests_per_ip_per_minute, 60)

    async def admit(self, claims: Claims) -> None:
        """A signed-in call: its login must still be active, and its user within the per-minute limit.

        Both are answered by Valkey in one round trip; when Valkey cannot answer, Postgres says whether
        the login was ended (and the limit is not applied).
        """
        limits = self.limits
        limit = limits.requests_per_user_per_minute if claims.role == "user" else limits.requests_per_staff_per_minute
        revoked = _REVOKED.format(claims.session_id)
        replies = await self.limiter.hit("user", str(claims.user_id), limit, 60, also=[("EXISTS", revoked)])
        active = not replies[0] if replies is not None else await self._active_in_postgres(claims.session_id)
        if not active:
            raise Unauthorized("this login has ended; sign in again")

    async def register(self, request: RegisterRequest, device: str, ip: str) -> AuthResponse:
        await self.limiter.hit("register-ip", ip, self.limits.registrations_per_ip_per_hour, 3600)
        email = normalise_email(request.email)
        errors = passwords.problems(request.password, email) + birth_date_problems(request.date_of_birth)
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
                await publish(EMAIL_JOB, {"userId": str(row["id"]), "purpose": "verify"})
        except asyncpg.UniqueViolationError:
            raise Conflict("an account with this email already exists; sign in instead") from None
        device_token = await self.throttle.signed_in(account_key(email), ip)
        return _signed_in(row, pair, device_token)

    async def login(self, request: LoginRequest, device: str, ip: str) -> AuthResponse:
        """Verify a password under the login throttle (server/auth/throttle.py explains who is limited how)."""
        email = normalise_email(request.email)
        attempt = await self.throttle.reserve(account_key(email), ip, request.device_token)
        row = await User.select(*User.all_columns()).where(User.email == email).first()
        matches, rehashed = await passwords.verify(row["password_hash"] if row else None, request.password)
        if not row or not matches:
            raise Unauthorized(_WRONG_LOGIN)  # the reserved attempt stays counted as a failure
        device_token = await self.throttle.succeeded(attempt)
        async with self.db.transaction():
            if rehashed:
                await User.update({User.password_hash: rehashed}).where(User.id == row["id"])
            pair = await self.open_session(row["id"], row["role"], device)
        return _signed_in(row, pair, device_token)

    async def oauth(
        self, provider: str, request: OauthRequest, oauth_settings: OauthSection, device: str, ip: str
    ) -> AuthResponse:
        """Sign in with a provider: link to the account with the same email, or create one.

        The provider vouches for the email; an unverified password account with that address does not
        (anyone could have registered it: the pre-account-takeover pattern). Linking to one therefore
        removes its password, ends its logins and forgets its devices, so whoever made it has no way
        back in; the owner can set a password later by reset.
        """
        identity = await oauth.verify(provider, request.id_token, oauth_settings)
        email = normalise_email(identity.email)
        row = await User.select(*User.all_columns()).where(User.email == email).first()
        unverified = row is not None and row["email_verified_at"] is None
        unusable = await passwords.unusable_hash() if unverified else None
        ended: list[uuid.UUID] = []
        async with self.db.transaction():
            if row is None:
                row = await self._create_from_provider(email, identity, request)
            elif unverified:
                now = _now()
                await User.update({User.email_verified_at: now, User.password_hash: unusable}).where(
                    User.id == row["id"]
                )
                ended = await self.end_sessions_in_transaction(row["id"], now)
                row = row | {"email_verified_at": now}
            pair = await self.open_session(row["id"], row["role"], device)
        if unverified:
            await self.mark_revoked(ended)
            await self.throttle.clear(account_key(email))
        assert row is not None  # found, or made in the transaction
        return _signed_in(row, pair, await self.throttle.signed_in(account_key(email), ip))

    async def _create_from_provider(self, email: str, identity: Identity, request: OauthRequest) -> dict[str, Any]:
        errors = [
            FieldError(f, "is required for a new account")
            for f, v in (("dateOfBirth", request.date_of_birth), ("gender", request.gender))
            if v is None
        ]
        if request.date_of_birth:
            errors += birth_date_problems(request.date_of_birth)
        if errors:
            raise Invalid(f"invalid value for {', '.join(e.field for e in errors)}", errors=errors)
        # The provider vouches for this person; no password exists until they set one by reset.
        unusable = await passwords.unusable_hash()
        local_part = email.split("@", maxsplit=1)[0]
        first_name = request.first_name or _usable_name(identity.given_name) or _usable_name(local_part) or "Harvester"
        now = _now()
        [row] = await User.insert(
            User(
                id=uuid.uuid4(),
                email=email,
                password_hash=unusable,
                first_name=first_name,
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
            # A login opened while a suspension or ban was being decided escaped its end of sessions; it ends here.
            async with database.connection(self.db) as connection:
                barred = await measures.barred(connection, found["user_id"])
            reused = found["used_at"] is not None
            if reused or barred is not None:
                await self._revoke_in_transaction([found["session"]], now)
            else:
                await RefreshToken.update({RefreshToken.used_at: now}).where(RefreshToken.id == found["id"])
                await Session.update({Session.last_seen_at: now}).where(Session.id == found["session"])
                pair = await self._issue(found["session"], found["user_id"], found["role"])
        if reused or barred is not None:
            await self.mark_revoked([found["session"]])
        if reused:
            log.warning("refresh token reused; session revoked", extra={"session": str(found["session"])})
            raise Unauthorized(_BAD_REFRESH)
        if barred is not None:
            raise Forbidden(measures.refusal(barred))
        return pair

    async def forgot_password(self, email: str) -> None:
        """Queue a reset email; the caller answers 202 either way.

        Both answers do the same work (one counter, one lookup, one queued job), so their timing does
        not tell whether the account exists: for a missing account the job names nobody and the worker
        drops it.
        """
        email = normalise_email(email)
        await self.limiter.hit("reset-email", account_key(email), self.limits.reset_requests_per_email_per_hour, 3600)
        row = await User.select(User.id).where(User.email == email).first()
        await publish(EMAIL_JOB, {"userId": str(row["id"]) if row else None, "purpose": "reset"})

    async def reset_password(self, token: str, new_password: str) -> None:
        """Set a new password from an emailed token, end every login of the account and clear its login
        throttle: whatever strangers did to it no longer stands in the owner's way."""
        now = _now()
        async with self.db.transaction():
            found = await self._take_email_token(token, "reset", now)
            user = await User.select(User.email).where(User.id == found["user"]).first()
            if user is None:  # erased since the link was sent; its tokens went with it, so this is a race
                raise Invalid(_BAD_LINK, errors=[FieldError("token", _BAD_LINK)])
            errors = passwords.problems(new_password, user["email"], field="newPassword")
            if errors:
                raise Invalid("invalid value for newPassword", errors=errors)
            password_hash = await passwords.hash_password(new_password)
            await User.update({User.password_hash: password_hash}).where(User.id == found["user"])
            session_ids = await self.end_sessions_in_transaction(found["user"], now)
        await self.mark_revoked(session_ids)
        assert user is not None  # the transaction above refuses a vanished account
        await self.throttle.clear(account_key(user["email"]))

    async def verify_email(self, token: str) -> None:
        now = _now()
        async with self.db.transaction():
            found = await self._take_email_token(token, "verify", now)
            await User.update({User.email_verified_at: now}).where(
                (User.id == found["user"]) & User.email_verified_at.is_null()
            )

    @staticmethod
    async def email_token_usable(token: str, purpose: str) -> bool:
        """Whether an emailed token would still be accepted, without using it (a page shows its form or not)."""
        return await EmailToken.exists().where(
            (EmailToken.token_hash == hash_token(token))
            & (EmailToken.purpose == purpose)
            & EmailToken.used_at.is_null()
            & (EmailToken.expires_at > _now())
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
        row: dict[str, Any] = rows[0]
        return row

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

    async def sessions(self, claims: Claims, limit: int, after: list[Any] | None = None) -> list[SessionView]:
        """The caller's open logins, most recently used first: ``limit`` of them after ``after``, a position
        ``session_position`` gave."""
        query = Session.select(Session.id, Session.device, Session.created_at, Session.last_seen_at).where(
            (Session.user == claims.user_id) & Session.revoked_at.is_null()
        )
        if after is not None:
            seen, session_id = dt.datetime.fromisoformat(after[0]), uuid.UUID(after[1])
            query = query.where(WhereRaw("(last_seen_at, id) < ({}, {})", seen, session_id))
        rows = await query.order_by(Session.last_seen_at, Session.id, ascending=False).limit(limit)
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
        await self.mark_revoked(session_ids)

    @staticmethod
    async def _active_in_postgres(session_id: uuid.UUID) -> bool:
        return await Session.exists().where((Session.id == session_id) & Session.revoked_at.is_null())

    async def open_session(self, user_id: uuid.UUID, role: str, device: str) -> TokenPair:
        """A new login for an account whose identity is already established, unless a suspension or ban stands
        against it (403 saying until when)."""
        async with database.connection(self.db) as connection:
            found = await measures.barred(connection, user_id)
        if found is not None:
            raise Forbidden(measures.refusal(found))
        now = _now()
        session_id = uuid.uuid4()
        await Session.insert(
            Session(id=session_id, user=user_id, device=device[:200], created_at=now, last_seen_at=now)
        )
        return await self._issue(session_id, user_id, role)

    async def _issue(self, session_id: uuid.UUID, user_id: uuid.UUID, role: str) -> TokenPair:
        # A login or a refresh is the app in use: the day counts toward `harvestctl stats`' active users.
        await User.raw(
            "INSERT INTO auth_active_days (day, user_id) VALUES ((now() AT TIME ZONE 'UTC')::date, {})"
            " ON CONFLICT DO NOTHING",
            user_id,
        )
        token, token_hash = new_secret_token()
        expires = _now() + dt.timedelta(seconds=REFRESH_SECONDS)
        await RefreshToken.insert(
            RefreshToken(id=uuid.uuid4(), session=session_id, token_hash=token_hash, expires_at=expires)
        )
        access = self.issuer.access_token(user_id, session_id, role)
        return TokenPair(access_token=access, refresh_token=token, expires_in=ACCESS_SECONDS)

    async def end_sessions_in_transaction(self, user_id: uuid.UUID, now: dt.datetime) -> list[uuid.UUID]:
        """End every login of an account inside the caller's transaction; the caller marks them in Valkey."""
        rows = await Session.select(Session.id).where((Session.user == user_id) & Session.revoked_at.is_null())
        session_ids = [row["id"] for row in rows]
        if session_ids:
            await self._revoke_in_transaction(session_ids, now)
        return session_ids

    @staticmethod
    async def _revoke_in_transaction(session_ids: list[uuid.UUID], now: dt.datetime) -> None:
        await Session.update({Session.revoked_at: now}).where(
            Session.id.is_in(session_ids) & Session.revoked_at.is_null()
        )
        await RefreshToken.delete().where(RefreshToken.session.is_in(session_ids) & RefreshToken.used_at.is_null())

    async def mark_revoked(self, session_ids: list[uuid.UUID]) -> None:
        """Access tokens live 15 minutes, so the mark needs to outlive them by no more than that. The login's open
        sockets are told in the same round trip, and close."""
        try:
            async with self.valkey.pipeline(transaction=False) as pipe:
                for session_id in session_ids:
                    pipe.set(_REVOKED.format(session_id), "1", ex=ACCESS_SECONDS + 60)
                    pipe.publish(session_channel(session_id), SESSION_ENDED)
                await pipe.execute()
        except (ValkeyError, OSError):
            log.warning("could not mark sessions revoked in valkey; postgres still answers", exc_info=True)


def _usable_name(name: str) -> str | None:
    """A provider's name passes the same rule as a typed one (no controls, no invisible formatting)."""
    try:
        return msgspec.convert(name.strip()[:50], FirstName)
    except msgspec.ValidationError:
        return None


def _signed_in(row: dict[str, Any], pair: TokenPair, device_token: str) -> AuthResponse:
    return AuthResponse(
        user=_user_view(row),
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        device_token=device_token,
    )


def session_position(view: SessionView) -> list[str]:
    """Where a page of sessions ends, in the order ``AuthService.sessions`` lists them."""
    return [view.last_seen_at.isoformat(), str(view.id)]
