"""Sign in with Google or Apple: ID tokens verified against a JWKS served on loopback."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from server.auth.tables import User
from tests.factories import PASSWORD, bearer, register
from tests.factories import provider_claims as claims


@pytest.mark.parametrize("provider", ["google", "apple"])
async def test_new_person_signs_up_with_a_provider_giving_birth_date_and_gender(client, stack, provider):
    email = f"robin.{uuid.uuid4().hex[:6]}@example.com"
    token = stack.identity.id_token(**claims(provider, email))
    missing = await client.post(f"/api/auth/oauth/{provider}", json={"idToken": token})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"dateOfBirth", "gender"}
    created = await client.post(
        f"/api/auth/oauth/{provider}", json={"idToken": token, "dateOfBirth": "1992-06-01", "gender": "woman"}
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert (
        body["user"]["email"] == email
        and body["user"]["emailVerified"] is True
        and body["user"]["firstName"] == "Robin"
    )
    again = await client.post(f"/api/auth/oauth/{provider}", json={"idToken": token})
    assert again.status_code == 200 and again.json()["user"]["id"] == body["user"]["id"]


async def test_provider_sign_in_links_to_a_verified_account_and_leaves_its_password_and_logins(client, stack, db):
    existing = await register(client)
    await User.update({User.email_verified_at: dt.datetime.now(dt.UTC)}).where(User.id == existing["user"]["id"])
    token = stack.identity.id_token(**claims("google", existing["user"]["email"].upper()))
    linked = await client.post("/api/auth/oauth/google", json={"idToken": token})
    assert linked.status_code == 200 and linked.json()["user"]["id"] == existing["user"]["id"]
    assert (await client.get("/api/auth/sessions", headers=bearer(existing["accessToken"]))).status_code == 200
    assert (
        await client.post("/api/auth/login", json={"email": existing["user"]["email"], "password": PASSWORD})
    ).status_code == 200


async def test_provider_sign_in_takes_an_unverified_account_from_whoever_registered_it(client, stack, db):
    # Someone registered the address first, with a password of their own, and never verified it.
    squatter = await register(client)
    email = squatter["user"]["email"]
    token = stack.identity.id_token(**claims("apple", email))
    owner = await client.post("/api/auth/oauth/apple", json={"idToken": token})
    assert owner.status_code == 200, owner.text
    assert owner.json()["user"]["id"] == squatter["user"]["id"] and owner.json()["user"]["emailVerified"] is True
    assert (await client.get("/api/auth/sessions", headers=bearer(squatter["accessToken"]))).status_code == 401
    assert (await client.post("/api/auth/refresh", json={"refreshToken": squatter["refreshToken"]})).status_code == 401
    assert (await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code == 401
    assert (await client.get("/api/auth/sessions", headers=bearer(owner.json()["accessToken"]))).status_code == 200


async def test_bad_id_tokens_are_refused(client, stack):
    email = "mallory@example.com"
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = {
        "signed by another key": jwt.encode(
            claims("google", email), stranger, algorithm="RS256", headers={"kid": stack.identity.KID}
        ),
        "wrong audience": stack.identity.id_token(**claims("google", email, aud="someone-elses-app")),
        "wrong issuer": stack.identity.id_token(**claims("google", email, iss="https://evil.example")),
        "expired": stack.identity.id_token(**claims("google", email, exp=int(time.time()) - 5)),
        "unverified email": stack.identity.id_token(**claims("google", email, email_verified=False)),
        "HS256 with no key": jwt.encode(
            claims("google", email), "s" * 40, algorithm="HS256", headers={"kid": stack.identity.KID}
        ),
    }
    for name, token in bad.items():
        response = await client.post(
            "/api/auth/oauth/google", json={"idToken": token, "dateOfBirth": "1990-01-01", "gender": "man"}
        )
        assert response.status_code == 401, name
    unknown = await client.post("/api/auth/oauth/myspace", json={"idToken": bad["expired"]})
    assert unknown.status_code == 404
