"""Chat in export and erasure: a person's export holds what they wrote; erasing goes through the whole conversation
of both people, photos' objects included."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey

from server.photos.media import VARIANTS
from server.platform.storage import Storage
from tests.factories import PASSWORD, bearer, fetch, objects, register, run_jobs, with_approved_photo
from tests.integration.chat.talk import pairs, send
from tests.integration.chat.test_photos import uploaded_photo
from tests.integration.matching.crowd import BERLIN, UNMATCH, crowd_in_one_cell, headers, ids, matched


async def test_the_export_holds_the_persons_own_messages_and_photos_only(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(me, other, match_id)] = await pairs(app, client)
    mine = await uploaded_photo(client, me, match_id)
    theirs = await uploaded_photo(client, other, match_id)
    assert (await send(client, me, match_id, "a", "mine, in words")).status_code == 201
    assert (await send(client, other, match_id, "b", "theirs, in words")).status_code == 201
    assert (
        await send(client, me, match_id, "c", "mine, a picture", type="image", photoId=mine["id"])
    ).status_code == 201
    assert (await send(client, other, match_id, "d", "", type="image", photoId=theirs["id"])).status_code == 201

    response = await client.get("/api/users/export", headers=headers(me))
    assert response.status_code == 200, response.text
    section = response.json()["data"]["chat"]
    assert [(m["seq"], m["type"], m["content"], m["photo_id"]) for m in section["messages"]] == [
        (1, "text", "mine, in words", None),
        (3, "image", "mine, a picture", mine["id"]),
    ]
    assert all(m["match_id"] == match_id and m["created_at"] for m in section["messages"])
    [photo] = section["photos"]
    assert photo["id"] == mine["id"] and photo["match_id"] == match_id and set(photo["urls"]) == set(VARIANTS)
    assert "theirs" not in response.text and theirs["id"] not in response.text


async def _listed_account(client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey) -> dict[str, Any]:
    """Someone signed up through the API (so they can erase their account), placed and with an approved photo."""
    person = await register(client)
    placed = await client.put(
        "/api/users/location", json={"lat": BERLIN[0], "lng": BERLIN[1]}, headers=bearer(person["accessToken"])
    )
    assert placed.status_code == 204, placed.text
    await with_approved_photo(db, ids(person))
    await run_jobs(valkey, db)
    return person


async def _talked(client: httpx.AsyncClient, one: dict[str, Any], other: dict[str, Any], match_id: str) -> list[str]:
    """Both people send words and a photo; the photos' ids."""
    photos = []
    for n, person in enumerate((one, other)):
        photo = await uploaded_photo(client, person, match_id)
        sent = await send(client, person, match_id, f"{match_id}-{n}-p", type="image", photoId=photo["id"])
        assert sent.status_code == 201, sent.text
        assert (await send(client, person, match_id, f"{match_id}-{n}-t", "hello")).status_code == 201
        photos.append(photo["id"])
    return photos


async def test_erasure_removes_both_peoples_conversations_and_the_photos_objects(
    app: Litestar, client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey, storage: Storage
) -> None:
    leaver = await _listed_account(client, db, valkey)
    partner, former, bystander = await crowd_in_one_cell(app, 3)
    standing = (await matched(client, leaver, partner))["id"]
    ended = (await matched(client, former, leaver))["id"]
    kept = (await matched(client, partner, bystander))["id"]
    erased_photos = await _talked(client, leaver, partner, standing) + await _talked(client, former, leaver, ended)
    kept_photos = await _talked(client, partner, bystander, kept)
    assert (await client.post(UNMATCH, json={"matchId": ended}, headers=headers(former))).status_code == 204

    gone = await client.request(
        "DELETE", "/api/users/profile", json={"password": PASSWORD}, headers=bearer(leaver["accessToken"])
    )
    assert gone.status_code == 204, gone.text

    assert db.pool is not None
    for table in ("chat_conversations", "chat_messages", "chat_photos"):
        left = await db.pool.fetch(f"SELECT DISTINCT match_id::text FROM {table}")
        assert [row["match_id"] for row in left] == [kept], table
    assert await db.pool.fetchval("SELECT count(*) FROM chat_messages") == 4
    # The partner keeps their other conversation and nothing of the erased one.
    listed = (await client.get("/api/chat/conversations", headers=headers(partner))).json()["items"]
    assert [c["matchId"] for c in listed] == [kept]
    assert (
        await client.get(f"/api/chat/conversations/{standing}/messages", headers=headers(partner))
    ).status_code == 404

    await run_jobs(valkey, db)  # the worker deletes the objects the erasure named
    assert objects(storage) == {f"media/chat/{p}/{v}.webp" for p in kept_photos for v in VARIANTS}
    assert not [name for name in objects(storage) if any(p in name for p in erased_photos)]
    # The conversation that did not involve the erased person is whole, its photos still served.
    listed = (await client.get(f"/api/chat/conversations/{kept}/messages", headers=headers(bystander))).json()
    shown = [m["photo"] for m in listed["items"] if m["photo"]]
    assert {photo["id"] for photo in shown} == set(kept_photos)
    for photo in shown:
        assert (await fetch(client, photo["urls"]["large"])).status_code == 200
