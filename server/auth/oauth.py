"""Google and Apple ID tokens, verified against the provider's published keys (JWKS, cached)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import jwt

from server.errors import NotFound, Unauthorized
from server.settings import OauthSection

Provider = Literal["google", "apple"]
ISSUERS = {"google": ["https://accounts.google.com", "accounts.google.com"], "apple": ["https://appleid.apple.com"]}


@dataclass(frozen=True)
class Identity:
    email: str
    given_name: str


@cache
def _keys(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=5)


def _settings_for(provider: str, oauth: OauthSection) -> tuple[list[str], str]:
    if provider == "google":
        return oauth.google_client_ids, oauth.google_jwks_url
    if provider == "apple":
        return oauth.apple_client_ids, oauth.apple_jwks_url
    raise NotFound(f"no sign-in provider named {provider!r}")


async def verify(provider: str, id_token: str, oauth: OauthSection) -> Identity:
    """Signature (RS256, provider's key by kid), issuer, audience, expiry and a verified email, or 401."""
    client_ids, jwks_url = _settings_for(provider, oauth)
    if not client_ids:
        raise NotFound(f"sign-in with {provider} is not enabled on this server")

    def check() -> dict[str, Any]:
        key = _keys(jwks_url).get_signing_key_from_jwt(id_token)
        return jwt.decode(
            id_token,
            key.key,
            algorithms=["RS256"],
            audience=client_ids,
            issuer=ISSUERS[provider],
            options={"require": ["exp", "iat", "iss", "aud", "sub", "email"]},
        )

    try:
        claims = await asyncio.to_thread(check)
    except (jwt.PyJWTError, ValueError):
        raise Unauthorized(f"the {provider} ID token is not valid") from None
    if str(claims.get("email_verified", "false")).lower() != "true":
        raise Unauthorized(f"the {provider} account's email is not verified")
    return Identity(email=str(claims["email"]), given_name=str(claims.get("given_name") or claims.get("name") or ""))
