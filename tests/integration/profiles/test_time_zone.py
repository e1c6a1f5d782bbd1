"""A person may name their own time zone: checked against the tz database, private to them, cleared by null."""

from __future__ import annotations

import uuid

import pytest

from server.profiles.service import time_zone_of
from tests.factories import bearer, fields, register


async def put_profile(client, token: str, **body):
    return await client.put("/api/users/profile", json=body, headers=bearer(token))


async def test_a_time_zone_is_kept_until_cleared_with_null(client):
    me = await register(client)
    user_id = uuid.UUID(me["user"]["id"])
    assert await time_zone_of(user_id) is None

    response = await put_profile(client, me["accessToken"], timeZone="America/Argentina/Buenos_Aires")
    assert response.status_code == 200, response.text
    assert response.json()["timeZone"] == "America/Argentina/Buenos_Aires"
    assert await time_zone_of(user_id) == "America/Argentina/Buenos_Aires"

    # Left out, it stays as it is.
    assert (await put_profile(client, me["accessToken"], bio="hello")).json()["timeZone"] == (
        "America/Argentina/Buenos_Aires"
    )
    profile = (await client.get("/api/users/profile", headers=bearer(me["accessToken"]))).json()
    assert profile["timeZone"] == "America/Argentina/Buenos_Aires"

    cleared = await put_profile(client, me["accessToken"], timeZone=None)
    assert cleared.status_code == 200 and cleared.json()["timeZone"] is None
    assert await time_zone_of(user_id) is None


@pytest.mark.parametrize(
    "value", ["Mars/Olympus_Mons", "europe/berlin", "localtime", "Factory", "", "+02:00", "../etc/passwd", "A" * 65, 7]
)
async def test_a_name_outside_the_tz_database_is_refused_naming_timezone(client, value):
    me = await register(client)
    await put_profile(client, me["accessToken"], timeZone="Asia/Tokyo")
    response = await put_profile(client, me["accessToken"], timeZone=value, bio="not saved either")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(field.startswith("timeZone") for field in fields(response))
    profile = (await client.get("/api/users/profile", headers=bearer(me["accessToken"]))).json()
    assert profile["timeZone"] == "Asia/Tokyo" and profile["bio"] == ""


async def test_others_never_see_a_time_zone(client):
    me = await register(client)
    other = await register(client)
    await put_profile(client, me["accessToken"], timeZone="Europe/Lisbon")
    seen = await client.get(f"/api/users/{me['user']['id']}", headers=bearer(other["accessToken"]))
    assert seen.status_code == 200
    assert "timeZone" not in seen.json() and "Europe/Lisbon" not in seen.text


async def test_the_export_carries_the_time_zone(client):
    me = await register(client)
    await put_profile(client, me["accessToken"], timeZone="Pacific/Chatham")
    data = (await client.get("/api/users/export", headers=bearer(me["accessToken"]))).json()["data"]
    assert data["profiles"]["profile"]["time_zone"] == "Pacific/Chatham"


async def test_the_public_schema_leaves_the_time_zone_out(client):
    schemas = (await client.get("/api/openapi.json")).json()["components"]["schemas"]
    own = next(
        schema
        for name, schema in schemas.items()
        if name.endswith("Profile") and "sexualOrientation" in schema["properties"]
    )
    assert "timeZone" in own["properties"]
    public = next(schema for name, schema in schemas.items() if "distanceKm" in schema.get("properties", {}))
    assert "timeZone" not in public["properties"]
