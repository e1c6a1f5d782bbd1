"""Access tokens (short-lived JWTs) and refresh tokens (opaque, stored only as hashes)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from server.auth.roles import Role
from server.errors import Unauthorized
from server.settings import ConfigError, Settings

ACCESS_SECONDS = 15 * 60
REFRESH_SECONDS = 7 * 24 * 3600
AUDIENCE = "harvest-app"
ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti", "typ", "sid"]
#: tokens already verified by this process; a token is immutable, so only its expiry needs checking again
_VERIFIED_MAX = 20_000


@dataclass(frozen=True)
class Claims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str
    expires_at: int


class TokenIssuer:
    """Signs with the first configured key; verifies with any of them, chosen by the token's ``kid``."""

    def __init__(self, settings: Settings) -> None:
        jwt_keys = settings.secrets.jwt
        if jwt_keys is None:
            raise ConfigError("secrets: jwt: this process was given no signing keys")
        self.keys = {key.kid: key.secret for key in jwt_keys.keys}
        self.signing_kid = jwt_keys.keys[0].kid
        self.issuer = settings.public_url()
        self._verified: OrderedDict[str, Claims] = OrderedDict()

    def access_token(self, user_id: uuid.UUID, session_id: uuid.UUID, role: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "sid": str(session_id),
            "role": role,
            "typ": "access",
            "iat": now,
            "exp": now + ACCESS_SECONDS,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.keys[self.signing_kid], algorithm=ALGORITHM, headers={"kid": self.signing_kid})

    def verify(self, token: str) -> Claims:
        """Any defect — unknown key, other algorithm, bad signature, expiry, audience, issuer — is a 401.

        Checking a signature costs more than the rest of a cached read, so each process remembers the
        tokens it has verified; whether their login is still active is checked on every request anyway.
        """
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            self._verified[token] = claims
            if len(self._verified) > _VERIFIED_MAX:
                self._verified.popitem(last=False)
        if claims.expires_at <= time.time():
            raise Unauthorized("the access token has expired; refresh it")
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self.keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise Unauthorized("the access token is not valid")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self.issuer,
                options={"require": _REQUIRED},
            )
            if claims["typ"] != "access":
                raise Unauthorized("the access token is not valid")
            return Claims(
                uuid.UUID(claims["sub"]),
                uuid.UUID(claims["sid"]),
                str(claims.get("role", Role.USER)),
                int(claims["exp"]),
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired; refresh it") from None
        except (jwt.PyJWTError, ValueError, KeyError):
            raise Unauthorized("the access token is not valid") from None


def new_secret_token() -> tuple[str, str]:
    """An opaque token (refresh, email link): (token for the client, hash to store)."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
