"""The photo pipeline against real Postgres, Valkey and SeaweedFS, read back through the real S3 API."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from server import settings as settings_module
from server.photos.media import VARIANTS, original_key, variant_key
from tests.factories import bearer, fetch, my_photos, objects, register, run_jobs, upload, uploaded
from tests.integration.photos import samples


async def test_iphone_jpeg_with_gps_comes_out_as_clean_webp_variants(client, db, valkey):
    me = await register(client)
    photo = await uploaded(client, me["accessToken"], samples.iphone_jpeg())
    assert photo["state"] == "processing" and photo["urls"] is None and photo["position"] == 0

    await run_jobs(valkey, db)
    [ready] = await my_photos(client, me["accessToken"])
    assert ready["state"] == "approved"
    assert ready["blurhash"] and (ready["width"], ready["height"]) == (810, 1080)  # orientation applied: portrait
    for variant in VARIANTS:
        response = await fetch(client, ready["urls"][variant])
        assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "WEBP"
        assert not image.getexif(), f"{variant} carries EXIF"
        assert not {"exif", "xmp", "XML:com.adobe.xmp", "icc_profile"} & set(image.info), f"{variant} carries metadata"
        assert b"Exif" not in response.content and b"GPS" not in response.content and b"xmpmeta" not in response.content
        assert b"iPhone" not in response.content and b"Apple" not in response.content
    row = await db.pool.fetchrow("SELECT phash, blurhash FROM photos WHERE id = $1", uuid.UUID(photo["id"]))
    assert len(row["phash"]) == 16 and row["blurhash"] == ready["blurhash"]


async def test_heic_goes_in_and_webp_comes_out(client, db, valkey):
    me = await register(client)
    photo = await uploaded(client, me["accessToken"], samples.heic())
    await run_jobs(valkey, db)
    [ready] = await my_photos(client, me["accessToken"])
    assert ready["state"] == "approved"
    response = await fetch(client, ready["urls"]["large"])
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "WEBP" and max(image.size) == 1080 and not image.getexif()
    assert await db.pool.fetchval("SELECT source_format FROM photos WHERE id = $1", uuid.UUID(photo["id"])) == "heif"


async def test_a_50_mb_upload_is_refused_with_413(client):
    me = await register(client)
    response = await upload(client, me["accessToken"], b"\xff\xd8\xff" + bytes(50 * 1024 * 1024))
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_upload_over_the_photo_limit_but_under_the_body_cap_is_refused_with_413(client, stack):
    me = await register(client)
    limit = stack.settings.config.photos.max_upload_mb
    response = await upload(client, me["accessToken"], b"\xff\xd8\xff" + bytes(limit * 1024 * 1024))
    assert response.status_code == 413
    assert f"{limit} MB" in response.json()["detail"]


async def test_a_png_bomb_is_refused_with_422_and_the_worker_stays_up(client, db, valkey, app):
    me = await register(client)
    response = await upload(client, me["accessToken"], samples.png_bomb(), "bomb.png", "image/png")
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "file"
    assert "megapixels" in response.json()["detail"]
    # Nothing was stored or queued, and ordinary photos still go through.
    assert await db.pool.fetchval("SELECT count(*) FROM photos") == 0
    assert objects(app.state.storage) == set()
    await uploaded(client, me["accessToken"])
    await run_jobs(valkey, db)
    assert [p["state"] for p in await my_photos(client, me["accessToken"])] == ["approved"]


async def test_a_progressive_jpeg_scan_bomb_is_refused_with_422(client, db):
    me = await register(client)
    await uploaded(client, me["accessToken"])
    response = await upload(client, me["accessToken"], samples.scan_bomb(), "bomb.jpg")
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "file" and "scans" in response.json()["detail"]
    assert await db.pool.fetchval("SELECT count(*) FROM photos") == 1


async def test_a_multi_picture_jpeg_is_accepted_as_its_first_picture(client, db, valkey):
    me = await register(client)
    photo = await uploaded(client, me["accessToken"], samples.mpo(1200, 900))
    await run_jobs(valkey, db)
    [ready] = await my_photos(client, me["accessToken"])
    assert ready["id"] == photo["id"] and ready["state"] == "approved"
    assert (ready["width"], ready["height"]) == (810, 1080)
    assert await db.pool.fetchval("SELECT source_format FROM photos") == "jpeg"


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        (b"just some text, not a picture\n" * 20, "holiday.jpg", "image/jpeg"),
        (b"%PDF-1.7\n" + bytes(500), "scan.png", "image/png"),
        (b"GIF89a" + bytes(100), "funny.webp", "image/webp"),
    ],
)
async def test_content_that_is_not_an_accepted_image_is_refused_with_415(client, data, name, content_type):
    me = await register(client)
    response = await upload(client, me["accessToken"], data, name, content_type)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_truncated_image_is_refused_with_422(client, db):
    me = await register(client)
    whole = samples.iphone_jpeg()
    response = await upload(client, me["accessToken"], whole[: len(whole) // 2])
    assert response.status_code == 422
    assert "truncated" in response.json()["detail"]


async def test_the_type_comes_from_the_content_not_the_name_or_header(client, db):
    me = await register(client)
    response = await upload(client, me["accessToken"], samples.png(), "selfie.jpg", "application/octet-stream")
    assert response.status_code == 202
    assert await db.pool.fetchval("SELECT source_format FROM photos") == "png"


async def test_upload_without_a_file_field_names_it(client):
    me = await register(client)
    response = await client.post(
        "/api/users/photos", files={"picture": ("a.png", samples.png(), "image/png")}, headers=bearer(me["accessToken"])
    )
    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_person_has_at_most_six_photos(client, stack):
    me = await register(client)
    for _ in range(stack.settings.config.photos.max_per_user):
        await uploaded(client, me["accessToken"])
    response = await upload(client, me["accessToken"], samples.png())
    assert response.status_code == 409
    assert "delete one" in response.json()["detail"]


async def test_deleting_a_photo_removes_every_object_and_closes_the_gap(client, db, valkey, app):
    me = await register(client)
    first, second, third = [await uploaded(client, me["accessToken"]) for _ in range(3)]
    await run_jobs(valkey, db)
    gone = uuid.UUID(second["id"])
    expected = {f"originals/{original_key(gone)}"} | {f"media/{variant_key(gone, v)}" for v in VARIANTS}
    assert expected <= objects(app.state.storage)
    urls = (await my_photos(client, me["accessToken"]))[1]["urls"]

    response = await client.delete(f"/api/users/photos/{gone}", headers=bearer(me["accessToken"]))
    assert response.status_code == 204
    await run_jobs(valkey, db)
    assert not expected & objects(app.state.storage)
    assert len(objects(app.state.storage)) == 2 * (1 + len(VARIANTS))
    assert (await fetch(client, urls["large"])).status_code == 404
    remaining = await my_photos(client, me["accessToken"])
    assert [(p["id"], p["position"]) for p in remaining] == [(first["id"], 0), (third["id"], 1)]
    again = await client.delete(f"/api/users/photos/{gone}", headers=bearer(me["accessToken"]))
    assert again.status_code == 404


async def test_reorder_sets_the_primary_photo_and_needs_every_photo_once(client, db, valkey):
    me = await register(client)
    ids = [(await uploaded(client, me["accessToken"]))["id"] for _ in range(3)]
    await run_jobs(valkey, db)
    new_order = [ids[2], ids[0], ids[1]]
    response = await client.put("/api/users/photos/order", json=new_order, headers=bearer(me["accessToken"]))
    assert response.status_code == 200, response.text
    assert [p["id"] for p in response.json()["items"]] == new_order
    assert [p["id"] for p in await my_photos(client, me["accessToken"])] == new_order
    other = await register(client)
    seen = await client.get(f"/api/users/{me['user']['id']}", headers=bearer(other["accessToken"]))
    assert seen.json()["photos"][0]["id"] == ids[2]

    for bad in ([ids[0], ids[1]], [ids[0], ids[0], ids[1], ids[2]], "not a list"):
        refused = await client.put("/api/users/photos/order", json=bad, headers=bearer(me["accessToken"]))
        assert refused.status_code in (400, 422), bad


async def test_others_see_approved_photos_only_and_links_cannot_be_altered(client, db, valkey):
    me = await register(client)
    other = await register(client)
    await uploaded(client, me["accessToken"])
    profile_url = f"/api/users/{me['user']['id']}"
    assert (await client.get(profile_url, headers=bearer(other["accessToken"]))).json()["photos"] == []
    await run_jobs(valkey, db)
    [photo] = (await client.get(profile_url, headers=bearer(other["accessToken"]))).json()["photos"]
    assert photo["state"] == "approved"
    url = photo["urls"]["large"]
    assert (await fetch(client, url)).status_code == 200
    for forged in (
        url.replace("large.webp", "thumb.webp"),
        url.replace("exp=", "exp=9").replace("&sig", "&sig"),
        url[:-2] + ("AA" if not url.endswith("AA") else "BB"),
        url.split("?")[0],
    ):
        assert (await fetch(client, forged)).status_code in (400, 403), forged


@pytest.fixture
def pre_moderation(stack):
    """harvest.toml says `[photos] moderation = "pre"` for this test, as an operator would write it."""
    config = stack.root / "etc/harvest/harvest.toml"
    original = config.read_text()
    config.write_text(original + '\n[photos]\nmoderation = "pre"\n')
    settings_module.current.cache_clear()
    assert settings_module.current().config.photos.moderation == "pre"
    yield
    config.write_text(original)
    settings_module.current.cache_clear()


async def test_under_pre_moderation_a_processed_photo_waits_for_review(client, db, valkey, pre_moderation):
    me = await register(client)
    other = await register(client)
    await uploaded(client, me["accessToken"])
    await run_jobs(valkey, db)
    [mine] = await my_photos(client, me["accessToken"])
    assert mine["state"] == "pending_review" and mine["urls"] is not None
    seen = await client.get(f"/api/users/{me['user']['id']}", headers=bearer(other["accessToken"]))
    assert seen.json()["photos"] == []
