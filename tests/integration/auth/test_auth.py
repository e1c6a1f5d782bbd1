"""Sign-up, login, refresh rotation and sessions against the real stack."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric import rsa

from server.auth.tables import RefreshToken, Session, User
from server.auth.tokens import AUDIENCE
from server.errors import Unauthorized
from tests.factories import PASSWORD, bearer, fields, person, register


async def test_register_returns_the_user_and_a_token_pair_with_the_email_normalised(client):
    email = f"Sam.{uuid.uuid4().hex[:6]}@Example.com"
    body = await register(client, email=f"  {email} ")
    assert body["user"]["email"] == email.lower()
    assert body["user"]["role"] == "user" and body["user"]["emailVerified"] is False
    assert body["expiresIn"] == 900 and body["accessToken"] and body["refreshToken"]
    again = await client.post("/api/auth/register", json=person(email=email.upper()))
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_under_18s_are_refused_and_nothing_is_stored(client, db):
    today = dt.date.today()
    almost = today.replace(year=today.year - 18) + dt.timedelta(days=1)
    response = await client.post("/api/auth/register", json=person(dateOfBirth=almost.isoformat()))
    assert response.status_code == 422 and fields(response) == {"dateOfBirth"}
    assert await User.count() == 0


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "8 to 128"),
        ("baseball", "common"),
        ("Password1", "common"),
        ("x" * 129, "8 to 128"),
        ("violet-harbor-42", None),
    ],
)
async def test_weak_passwords_are_refused_naming_the_field(client, password, reason):
    response = await client.post("/api/auth/register", json=person(password=password))
    if reason is None:  # not on the list: composition rules are not ours to impose
        assert response.status_code == 201, response.text
        return
    assert response.status_code == 422 and fields(response) == {"password"}
    assert reason in response.json()["errors"][0]["message"]


async def test_password_equal_to_the_email_is_refused(client):
    email = f"pat.{uuid.uuid4().hex[:6]}@example.com"
    response = await client.post("/api/auth/register", json=person(email=email, password=email.upper()))
    assert response.status_code == 422 and fields(response) == {"password"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"gender": "robot"}, "gender"),
        ({"dateOfBirth": "1990-13-40"}, "dateOfBirth"),
        ({"firstName": ""}, "firstName"),
        ({"firstName": "Al\u0000"}, "firstName"),
        ({"email": "a\u0000b@example.com"}, "email"),
    ],
)
async def test_bad_bodies_get_problem_details_naming_the_field(client, change, field):
    response = await client.post("/api/auth/register", json=person(**change))
    assert response.status_code in (400, 422)
    assert field in response.json()["detail"] or field in fields(response), response.text


async def test_login_answers_the_same_for_a_wrong_password_and_an_unknown_email(client):
    account = person()
    await client.post("/api/auth/register", json=account)
    ok = await client.post("/api/auth/login", json={"email": account["email"].upper(), "password": PASSWORD})
    assert ok.status_code == 200 and ok.json()["user"]["firstName"] == "Alex"
    wrong = await client.post("/api/auth/login", json={"email": account["email"], "password": "wrong password!"})
    unknown = await client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "wrong password!"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_login_rehashes_a_password_stored_with_weaker_parameters(client, db):
    account = person()
    created = await register(client, **account)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    await User.update({User.password_hash: weak}).where(User.id == created["user"]["id"])
    assert (
        await client.post("/api/auth/login", json={"email": account["email"], "password": PASSWORD})
    ).status_code == 200
    stored = await User.select(User.password_hash).where(User.id == created["user"]["id"]).first()
    assert stored["password_hash"] != weak and "m=19456,t=2,p=1" in stored["password_hash"]


async def test_refresh_rotates_and_a_reused_token_ends_the_whole_login(client):
    first = await register(client)
    rotated = await client.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refreshToken"] != first["refreshToken"]
    assert (await client.get("/api/auth/sessions", headers=bearer(second["accessToken"]))).status_code == 200

    stolen = await client.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert stolen.status_code == 401
    assert (await client.post("/api/auth/refresh", json={"refreshToken": second["refreshToken"]})).status_code == 401
    assert (await client.get("/api/auth/sessions", headers=bearer(second["accessToken"]))).status_code == 401


async def test_two_refreshes_racing_with_one_token_have_exactly_one_winner(client):
    first = await register(client)
    results = await asyncio.gather(
        *(client.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]}) for _ in range(2))
    )
    assert sorted(r.status_code for r in results) == [200, 401]


async def test_logout_ends_the_session_and_its_access_token(client, db):
    body = await register(client)
    assert (await client.post("/api/auth/logout", headers=bearer(body["accessToken"]))).status_code == 204
    assert (await client.get("/api/auth/sessions", headers=bearer(body["accessToken"]))).status_code == 401
    assert (await client.post("/api/auth/refresh", json={"refreshToken": body["refreshToken"]})).status_code == 401


async def test_revoked_login_is_refused_even_when_valkey_forgot_it_is_checked_in_postgres(client, valkey):
    body = await register(client)
    await client.post("/api/auth/logout", headers=bearer(body["accessToken"]))
    assert await Session.exists().where(Session.revoked_at.is_not_null())
    assert await RefreshToken.count().where(RefreshToken.used_at.is_null()) == 0


async def test_sessions_are_listed_and_ended_only_by_their_owner(client):
    account = person()
    mine = await register(client, **account)
    other_device = (await client.post("/api/auth/login", json={"email": account["email"], "password": PASSWORD})).json()
    stranger = await register(client)
    listed = (await client.get("/api/auth/sessions", headers=bearer(mine["accessToken"]))).json()
    assert len(listed["items"]) == 2 and listed["nextCursor"] is None
    assert sum(item["current"] for item in listed["items"]) == 1
    other_id = next(item["id"] for item in listed["items"] if not item["current"])
    assert (
        await client.delete(f"/api/auth/sessions/{other_id}", headers=bearer(stranger["accessToken"]))
    ).status_code == 404
    assert (
        await client.delete(f"/api/auth/sessions/{other_id}", headers=bearer(mine["accessToken"]))
    ).status_code == 204
    assert (await client.get("/api/auth/sessions", headers=bearer(other_device["accessToken"]))).status_code == 401


def _claims(body: dict, **overrides) -> dict:
    real = jwt.decode(body["accessToken"], options={"verify_signature": False})
    return real | overrides


async def test_forged_expired_and_misaddressed_tokens_are_refused(client, stack):
    body = await register(client)
    key = stack.settings.secrets.jwt.keys[0]
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forgeries = {
        "another key": jwt.encode(
            _claims(body), "not-the-server-key-" * 3, algorithm="HS256", headers={"kid": key.kid}
        ),
        "alg none": jwt.encode(_claims(body), None, algorithm="none", headers={"kid": key.kid}),
        "RS256 (algorithm confusion)": jwt.encode(_claims(body), rsa_key, algorithm="RS256", headers={"kid": key.kid}),
        "expired": jwt.encode(
            _claims(body, exp=int(time.time()) - 1), key.secret, algorithm="HS256", headers={"kid": key.kid}
        ),
        "wrong audience": jwt.encode(
            _claims(body, aud="someone-else"), key.secret, algorithm="HS256", headers={"kid": key.kid}
        ),
        "unknown kid": jwt.encode(_claims(body), key.secret, algorithm="HS256", headers={"kid": "nope"}),
        "refresh typ": jwt.encode(
            _claims(body, typ="refresh"), key.secret, algorithm="HS256", headers={"kid": key.kid}
        ),
    }
    for name, token in forgeries.items():
        response = await client.get("/api/auth/sessions", headers=bearer(token))
        assert response.status_code == 401, name
    assert (await client.get("/api/auth/sessions")).status_code == 401
    assert (await client.get("/api/auth/sessions", headers=bearer(body["accessToken"]))).status_code == 200
    assert _claims(body)["aud"] == AUDIENCE


async def test_failed_logins_lock_the_account_from_that_address_but_not_from_others(client, app):
    account = person()
    await client.post("/api/auth/register", json=account)
    wrong = {"email": account["email"], "password": "not the password"}
    for _ in range(5):
        assert (await client.post("/api/auth/login", json=wrong)).status_code == 401
    locked = await client.post("/api/auth/login", json={"email": account["email"], "password": PASSWORD})
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    elsewhere = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 4000)), base_url="http://t"
    )
    async with elsewhere:
        assert (
            await elsewhere.post("/api/auth/login", json={"email": account["email"], "password": PASSWORD})
        ).status_code == 200


async def test_registrations_from_one_address_are_capped(client):
    for _ in range(10):
        await register(client)
    capped = await client.post("/api/auth/register", json=person())
    assert capped.status_code == 429 and int(capped.headers["Retry-After"]) > 0


async def test_auth_requests_per_address_are_capped(client):
    answers = [(await client.post("/api/auth/refresh", json={"refreshToken": "x" * 40})).status_code for _ in range(61)]
    assert answers[:60] == [401] * 60 and answers[60] == 429


async def test_limits_fail_open_when_valkey_is_unreachable():
    from valkey.asyncio import Valkey

    from server.platform.ratelimit import RateLimiter
    from tests.services import free_port

    away = Valkey(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    limiter = RateLimiter(away)
    for _ in range(3):
        await limiter.hit("test", "k", 1, 60)
    await away.aclose()


async def test_a_signed_in_user_is_capped_per_minute(client):
    body = await register(client)
    answers = [
        (await client.get("/api/auth/sessions", headers=bearer(body["accessToken"]))).status_code for _ in range(101)
    ]
    assert answers[:100] == [200] * 100 and answers[100] == 429


async def test_staff_have_a_limit_of_their_own(client, db):
    from tests.integration.moderation.staff import staff

    moderator = await staff(client, db)
    answers = [
        (await client.get("/api/auth/sessions", headers=bearer(moderator["accessToken"]))).status_code
        for _ in range(150)
    ]
    assert answers == [200] * 150, "a moderator working the queue is not held to a member's 100 a minute"


async def test_without_valkey_sign_in_still_works_and_revocation_falls_back_to_postgres(db, stack):
    from valkey.asyncio import Valkey

    from server.auth.schemas import LoginRequest, RegisterRequest
    from server.auth.service import AuthService
    from server.auth.tokens import TokenIssuer
    from tests.services import free_port

    away = Valkey(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    service = AuthService(db, away, TokenIssuer(stack.settings), stack.settings.config.limits)
    account = person()
    request = RegisterRequest(
        email=account["email"], password=PASSWORD, first_name="Alex", date_of_birth=dt.date(1990, 1, 1), gender="woman"
    )
    created = await service.register(request, "test", "127.0.0.1")
    signed_in = await service.login(LoginRequest(email=account["email"], password=PASSWORD), "test", "127.0.0.1")
    claims = service.issuer.verify(signed_in.access_token)
    await service.admit(claims)
    await service.logout(claims)
    with pytest.raises(Unauthorized):
        await service.admit(claims)  # Postgres answers when Valkey cannot
    assert (await service.refresh(created.refresh_token)).access_token
    await away.aclose()
