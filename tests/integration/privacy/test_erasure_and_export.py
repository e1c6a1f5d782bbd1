"""Erasure removes every trace of a person in every domain; export returns what is held about them."""

from __future__ import annotations

from server.photos.service import visible_cache_key
from server.privacy.registry import domains
from server.profiles.service import card_key
from tests.factories import PASSWORD, bearer, register, run_jobs, uploaded


async def test_every_table_is_declared_by_exactly_one_domain(db):
    """A new table holding user data without an eraser fails here: declare it in its domain's privacy.py."""
    rows = await db.pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migration'"
    )
    tables = {row["tablename"] for row in rows}
    declared = [table for domain in domains() for table in domain.tables]
    assert len(declared) == len(set(declared)), "a table is declared by two domains"
    assert tables == set(declared), f"undeclared: {tables - set(declared)}; stale: {set(declared) - tables}"


async def test_erasure_needs_the_password_and_leaves_no_row_or_object_behind(client, db, valkey, app):
    mine = await register(client)
    other = await register(client)
    await client.post("/api/auth/refresh", json={"refreshToken": mine["refreshToken"]})
    await client.post("/api/auth/forgot-password", json={"email": mine["user"]["email"]})
    await run_jobs(valkey, db)
    await client.post("/api/auth/forgot-password", json={"email": mine["user"]["email"]})  # still queued
    user_id = mine["user"]["id"]
    token = bearer(mine["accessToken"])
    await client.put("/api/users/profile", json={"bio": "gone soon", "interests": ["tea"]}, headers=token)
    await client.put("/api/users/preferences", json={"maxDistanceKm": 9}, headers=token)
    await client.put("/api/users/location", json={"lat": 48.2, "lng": 16.37}, headers=token)
    photo_ids = [(await uploaded(client, mine["accessToken"]))["id"] for _ in range(2)]
    await run_jobs(valkey, db)
    await uploaded(client, mine["accessToken"])  # still processing when the account goes
    photo_ids.append(await db.pool.fetchval("SELECT id::text FROM photos WHERE state = 'processing'"))
    await client.get(f"/api/users/{user_id}", headers=bearer(other["accessToken"]))  # cached

    wrong = await client.request(
        "DELETE", "/api/users/profile", json={"password": "not it"}, headers=bearer(mine["accessToken"])
    )
    assert wrong.status_code == 403
    done = await client.request(
        "DELETE", "/api/users/profile", json={"password": PASSWORD}, headers=bearer(mine["accessToken"])
    )
    assert done.status_code == 204

    for domain in domains():
        for table in domain.tables:
            columns = {
                r["column_name"]
                for r in await db.pool.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = $1", table
                )
            }
            text = await db.pool.fetchval(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE $1', f"%{user_id}%")
            assert text == 0, f"{table} still mentions the erased user ({sorted(columns)})"
    assert await db.pool.fetchval("SELECT count(*) FROM users WHERE id = $1", other["user"]["id"]) == 1
    assert not await valkey.exists(card_key(user_id), visible_cache_key(user_id)), "cached copies outlived the erasure"
    await run_jobs(valkey, db)  # the worker deletes the objects the erasure named
    storage = app.state.storage
    for bucket in storage.buckets.values():
        names = [obj.object_name for obj in storage.client.list_objects(bucket, recursive=True)]
        assert not [name for name in names if user_id in name or any(p in name for p in photo_ids)], bucket
    assert (await client.get("/api/auth/sessions", headers=bearer(mine["accessToken"]))).status_code == 401
    assert (
        await client.post("/api/auth/login", json={"email": mine["user"]["email"], "password": PASSWORD})
    ).status_code == 401


async def test_export_returns_the_callers_data_and_never_the_password_hash(client):
    body = await register(client)
    response = await client.get("/api/users/export", headers=bearer(body["accessToken"]))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["account"]["account"]["email"] == body["user"]["email"]
    assert len(data["account"]["sessions"]) == 1
    assert "password_hash" not in response.text and "$argon2" not in response.text


async def test_export_includes_profile_preferences_location_cell_and_photos(client):
    body = await register(client)
    token = bearer(body["accessToken"])
    await client.put("/api/users/profile", json={"bio": "hello", "sexualOrientation": "queer"}, headers=token)
    await client.put("/api/users/preferences", json={"maxDistanceKm": 12}, headers=token)
    await client.put("/api/users/location", json={"lat": 48.2082, "lng": 16.3738}, headers=token)
    photo = await uploaded(client, body["accessToken"])
    data = (await client.get("/api/users/export", headers=token)).json()["data"]
    assert (
        data["profiles"]["profile"]["bio"] == "hello" and data["profiles"]["profile"]["sexual_orientation"] == "queer"
    )
    assert data["profiles"]["preferences"]["max_distance_km"] == 12
    assert set(data["profiles"]["location"]) == {"cell_lat", "cell_lng", "moved_at"}
    assert data["profiles"]["location"]["cell_lat"] != 48.2082
    assert [p["id"] for p in data["photos"]["photos"]] == [photo["id"]]
    assert data["photos"]["photos"][0]["urls"] is None  # still processing
