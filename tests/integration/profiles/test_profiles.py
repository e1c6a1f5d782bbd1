"""Profiles and preferences: partial, idempotent updates, errors that name the field, sensible defaults."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from server.auth.accounts import age_on
from server.auth.admin import create_admin
from server.profiles.service import card_key
from server.web.auth import auth_service
from tests.factories import PASSWORD, bearer, register


async def put_profile(client, token: str, **fields):
    return await client.put("/api/users/profile", json=fields, headers=bearer(token))


async def test_a_new_profile_is_the_accounts_name_gender_and_age(client):
    me = await register(client, firstName="Robin", dateOfBirth="1995-04-02", gender="woman")
    profile = (await client.get("/api/users/profile", headers=bearer(me["accessToken"]))).json()
    assert profile == {
        "id": me["user"]["id"],
        "firstName": "Robin",
        "age": age_on(dt.date(1995, 4, 2), dt.date.today()),
        "gender": "woman",
        "bio": "",
        "sexualOrientation": None,
        "relationshipGoal": None,
        "interests": [],
        "jobTitle": None,
        "education": None,
        "heightCm": None,
        "isVerified": False,
        "photos": [],
        "timeZone": None,
    }


async def test_updates_are_partial_and_idempotent(client):
    me = await register(client)
    token = me["accessToken"]
    first = await put_profile(client, token, bio="  Coffee first.  ", interests=["hiking", "Coffee", "hiking"])
    assert first.status_code == 200, first.text
    second = await put_profile(client, token, jobTitle="Nurse", heightCm=172, relationshipGoal="long-term")
    body = second.json()
    assert body["bio"] == "Coffee first." and body["interests"] == ["hiking", "coffee"]
    assert (body["jobTitle"], body["heightCm"], body["relationshipGoal"]) == ("Nurse", 172, "long-term")
    again = await put_profile(client, token, jobTitle="Nurse", heightCm=172, relationshipGoal="long-term")
    assert again.json() == body
    cleared = (await put_profile(client, token, jobTitle=None, firstName="Sam", gender="man")).json()
    assert cleared["jobTitle"] is None and cleared["heightCm"] == 172
    assert (cleared["firstName"], cleared["gender"]) == ("Sam", "man")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"bio": "x" * 1001}, "bio"),
        ({"interests": ["hiking", "underwater-basket-weaving"]}, "interests"),
        (
            {"interests": ["art", "books", "cats", "dogs", "film", "tea", "wine", "yoga", "music", "poetry", "travel"]},
            "interests",
        ),
        ({"relationshipGoal": "forever"}, "relationshipGoal"),
        ({"heightCm": 300}, "heightCm"),
        ({"firstName": "   "}, "firstName"),
        ({"firstName": None}, "firstName"),
        ({"sexualOrientation": "robot"}, "sexualOrientation"),
        ({"gender": "other"}, "gender"),
        ({"age": 30}, "age"),
        ({"bio": "hello\u0000world"}, "bio"),
        ({"jobTitle": "Nurse\nand more"}, "jobTitle"),
        ({"firstName": "Al\u0007ex"}, "firstName"),
    ],
)
async def test_invalid_profile_fields_are_named_and_nothing_changes(client, fields, named):
    me = await register(client)
    before = (await client.get("/api/users/profile", headers=bearer(me["accessToken"]))).json()
    response = await put_profile(client, me["accessToken"], **fields)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(error["field"].startswith(named) for error in response.json()["errors"])
    assert (await client.get("/api/users/profile", headers=bearer(me["accessToken"]))).json() == before


async def test_the_curated_interests_come_whole_by_default_and_page_on_request(client):
    me = await register(client)
    everything = (await client.get("/api/users/interests", headers=bearer(me["accessToken"]))).json()
    assert "hiking" in everything["items"] and everything["nextCursor"] is None
    assert len(everything["items"]) == len(set(everything["items"])) > 50
    paged, params = [], {"limit": 20}
    while True:
        body = (await client.get("/api/users/interests", params=params, headers=bearer(me["accessToken"]))).json()
        assert len(body["items"]) <= 20
        paged += body["items"]
        if body["nextCursor"] is None:
            break
        params = {"limit": 20, "cursor": body["nextCursor"]}
    assert paged == everything["items"]


async def test_preferences_start_from_the_persons_age_and_change_partially(client):
    me = await register(client, dateOfBirth="1995-04-02")
    token = me["accessToken"]
    age = age_on(dt.date(1995, 4, 2), dt.date.today())
    defaults = (await client.get("/api/users/preferences", headers=bearer(token))).json()
    assert defaults == {
        "minAge": age - 10,
        "maxAge": age + 10,
        "maxDistanceKm": 50,
        "preferredGenders": ["woman", "man", "nonbinary"],
        "relationshipGoals": [],
    }
    changed = await client.put(
        "/api/users/preferences", json={"maxDistanceKm": 25, "preferredGenders": ["woman"]}, headers=bearer(token)
    )
    assert changed.status_code == 200
    assert changed.json() == defaults | {"maxDistanceKm": 25, "preferredGenders": ["woman"]}
    assert (await client.get("/api/users/preferences", headers=bearer(token))).json() == changed.json()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"minAge": 17}, "minAge"),
        ({"maxAge": 101}, "maxAge"),
        ({"minAge": 40, "maxAge": 30}, "minAge"),
        ({"maxAge": 18, "minAge": 19}, "minAge"),
        ({"maxDistanceKm": 0}, "maxDistanceKm"),
        ({"maxDistanceKm": 501}, "maxDistanceKm"),
        ({"preferredGenders": []}, "preferredGenders"),
        ({"relationshipGoals": ["marriage"]}, "relationshipGoals"),
    ],
)
async def test_invalid_preferences_are_named(client, fields, named):
    me = await register(client)
    response = await client.put("/api/users/preferences", json=fields, headers=bearer(me["accessToken"]))
    assert response.status_code == 422, response.text
    assert any(error["field"].startswith(named) for error in response.json()["errors"])


async def test_others_see_public_fields_only(client):
    me = await register(client, dateOfBirth="1990-01-15")
    other = await register(client)
    await put_profile(client, me["accessToken"], bio="Hi", sexualOrientation="bisexual", interests=["tea"])
    await client.put("/api/users/location", json={"lat": 52.52, "lng": 13.405}, headers=bearer(me["accessToken"]))
    response = await client.get(f"/api/users/{me['user']['id']}", headers=bearer(other["accessToken"]))
    assert response.status_code == 200
    body = response.json()
    assert (
        body["bio"] == "Hi"
        and body["interests"] == ["tea"]
        and body["age"] == age_on(dt.date(1990, 1, 15), dt.date.today())
    )
    assert body["distanceKm"] is None  # the viewer has shared no location
    for private in ("sexualOrientation", "dateOfBirth", "email", "lat", "lng", "location", "role", "preferences"):
        assert private not in body
    assert "bisexual" not in response.text and "52.5" not in response.text and "1990" not in response.text


async def test_a_change_is_seen_by_others_at_once_despite_the_cache(client, valkey):
    me = await register(client, firstName="Kim")
    other = await register(client)
    url = f"/api/users/{me['user']['id']}"
    assert (await client.get(url, headers=bearer(other["accessToken"]))).json()["firstName"] == "Kim"
    assert await valkey.exists(card_key(me["user"]["id"])), "the profile was not cached"
    await put_profile(client, me["accessToken"], firstName="Kimberly", bio="new")
    seen = (await client.get(url, headers=bearer(other["accessToken"]))).json()
    assert (seen["firstName"], seen["bio"]) == ("Kimberly", "new")


async def test_unknown_erased_staff_and_own_ids_answer_404(client, db, stack, app):
    me = await register(client)
    gone = await register(client)
    await client.get(f"/api/users/{gone['user']['id']}", headers=bearer(me["accessToken"]))  # cached now
    erased = await client.request(
        "DELETE", "/api/users/profile", json={"password": PASSWORD}, headers=bearer(gone["accessToken"])
    )
    assert erased.status_code == 204
    staff = await create_admin(stack.settings, auth_service(app.state), f"mod-{uuid.uuid4().hex[:6]}@example.com")
    staff_id = await db.pool.fetchval("SELECT id FROM users WHERE email = $1", staff["email"])
    for user_id in (uuid.uuid4(), gone["user"]["id"], me["user"]["id"], staff_id):
        response = await client.get(f"/api/users/{user_id}", headers=bearer(me["accessToken"]))
        assert response.status_code == 404, user_id
        assert response.headers["content-type"].startswith("application/problem+json")
