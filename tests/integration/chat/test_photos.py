"""Photos sent in a conversation: the photo pipeline's clean variants, seen by the match's two people only while
it stands, and never on a profile."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar
from PIL import Image

from server.photos.media import VARIANTS
from server.platform.storage import Storage
from tests.factories import fetch, my_photos, objects
from tests.integration.chat.talk import CONVERSATIONS, messages, pairs, send
from tests.integration.matching.crowd import UNMATCH, crowd_in_one_cell, headers, matched
from tests.integration.photos import samples


async def upload_photo(
    client: httpx.AsyncClient, person: dict[str, Any], match_id: str, data: bytes, content_type: str = "image/jpeg"
) -> httpx.Response:
    return await client.post(
        f"{CONVERSATIONS}/{match_id}/photos", files={"file": ("photo", data, content_type)}, headers=headers(person)
    )


async def uploaded_photo(
    client: httpx.AsyncClient, person: dict[str, Any], match_id: str, data: bytes | None = None
) -> dict[str, Any]:
    response = await upload_photo(client, person, match_id, data or samples.png(400, 300))
    assert response.status_code == 201, response.text
    photo: dict[str, Any] = response.json()
    return photo


async def test_a_photo_sent_in_a_conversation_reaches_both_people_without_its_metadata(
    app: Litestar, client: httpx.AsyncClient, storage: Storage
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    photo = await uploaded_photo(client, one, match_id, samples.iphone_jpeg())
    assert set(photo) == {"id", "urls", "blurhash", "width", "height"}
    assert (photo["width"], photo["height"]) == (810, 1080)  # orientation applied: portrait
    sent = await send(client, one, match_id, "img-1", "the park", type="image", photoId=photo["id"])
    assert sent.status_code == 201, sent.text
    assert sent.json()["type"] == "image" and sent.json()["photo"]["id"] == photo["id"]

    for person in (one, other):
        [message] = (await messages(client, person, match_id)).json()["items"]
        assert message["photo"]["id"] == photo["id"] and message["content"] == "the park"
        assert set(message["photo"]["urls"]) == set(VARIANTS)
        for variant, url in message["photo"]["urls"].items():
            assert f"/media/chat/{photo['id']}/{variant}.webp?" in url
            served = await fetch(client, url)
            assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
            image = Image.open(io.BytesIO(served.content))
            assert image.format == "WEBP" and not image.getexif(), f"{variant} carries EXIF"
            assert not {"exif", "xmp", "XML:com.adobe.xmp", "icc_profile"} & set(image.info), variant
            for trace in (b"Exif", b"GPS", b"xmpmeta", b"iPhone", b"Apple"):
                assert trace not in served.content, (variant, trace)
    # Only the variants are kept: the upload, with its EXIF, is in no bucket.
    assert objects(storage) == {f"media/chat/{photo['id']}/{variant}.webp" for variant in VARIANTS}


async def test_a_chat_photo_never_appears_on_the_uploaders_profile(app: Litestar, client: httpx.AsyncClient) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    before = await my_photos(client, one["accessToken"])
    photo = await uploaded_photo(client, one, match_id)
    after = await my_photos(client, one["accessToken"])
    assert after == before and photo["id"] not in str(after)
    seen = await client.get(f"/api/users/{one['user']['id']}", headers=headers(other))
    assert seen.status_code == 200 and photo["id"] not in seen.text
    assert not await app.state.db.pool.fetchval("SELECT count(*) FROM photos WHERE id = $1", uuid.UUID(photo["id"]))


async def test_only_the_two_people_of_a_standing_match_may_upload_into_it(
    app: Litestar, client: httpx.AsyncClient, storage: Storage
) -> None:
    [(one, other, match_id), (stranger, _, strangers_match)] = await pairs(app, client, 2)
    for who, where in ((stranger, match_id), (one, strangers_match), (one, str(uuid.uuid4()))):
        refused = await upload_photo(client, who, where, samples.png(64, 64))
        assert refused.status_code == 404, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    await uploaded_photo(client, other, match_id)
    ended = await client.post(UNMATCH, json={"matchId": match_id}, headers=headers(one))
    assert ended.status_code == 204, ended.text
    for who in (one, other):
        assert (await upload_photo(client, who, match_id, samples.png(64, 64))).status_code == 404
    assert await app.state.db.pool.fetchval("SELECT count(*) FROM chat_photos") == 1
    assert len(objects(storage)) == len(VARIANTS)


async def test_after_unmatch_the_photos_links_answer_404(app: Litestar, client: httpx.AsyncClient) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    photo = await uploaded_photo(client, one, match_id)
    assert (await fetch(client, photo["urls"]["large"])).status_code == 200
    ended = await client.post(UNMATCH, json={"matchId": match_id}, headers=headers(one))
    assert ended.status_code == 204, ended.text
    for url in photo["urls"].values():
        gone = await fetch(client, url)
        assert gone.status_code == 404, url
        assert gone.headers["content-type"].startswith("application/problem+json")


def _signed_as(app: Litestar, url: str, scope: str) -> str:
    """``url``'s chat photo and variant, with the signature made for ``scope`` ("" is a profile photo's)."""
    found = re.search(r"/media/chat/([0-9a-f-]{36})/(\w+)\.webp", url)
    assert found, url
    photo_id, variant = uuid.UUID(found[1]), found[2]
    signed = app.state.media_signer.url(photo_id, variant, scope=scope)
    return re.sub(r"^(.*/media/)", "", signed)


async def test_a_profile_photos_signature_does_not_open_a_chat_photo(app: Litestar, client: httpx.AsyncClient) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    photo = await uploaded_photo(client, one, match_id)
    as_profile = _signed_as(app, photo["urls"]["thumb"], "")
    query = as_profile.split("?", 1)[1]
    # The profile signature on the chat path, and the chat signature on the profile path: neither is served.
    assert (await client.get(f"/media/chat/{photo['id']}/thumb.webp?{query}")).status_code == 403
    chat_query = photo["urls"]["thumb"].split("?", 1)[1]
    assert (await client.get(f"/media/{photo['id']}/thumb.webp?{chat_query}")).status_code == 403
    assert (await client.get(f"/media/{as_profile}")).status_code == 404  # well signed, but no profile photo
    assert (await client.get(f"/media/{_signed_as(app, photo['urls']['thumb'], 'chat')}")).status_code == 200


async def test_a_photo_cannot_be_sent_in_another_conversation_or_by_the_other_person(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    me, first, second = await crowd_in_one_cell(app, 3)
    first_match = (await matched(client, me, first))["id"]
    second_match = (await matched(client, me, second))["id"]
    photo = await uploaded_photo(client, me, first_match)
    elsewhere = await send(client, me, second_match, "img-x", type="image", photoId=photo["id"])
    assert elsewhere.status_code == 404, elsewhere.text
    by_other = await send(client, first, first_match, "img-y", type="image", photoId=photo["id"])
    assert by_other.status_code == 404, by_other.text
    unknown = await send(client, me, first_match, "img-z", type="image", photoId=str(uuid.uuid4()))
    assert unknown.status_code == 404, unknown.text
    assert (await send(client, me, first_match, "img-ok", type="image", photoId=photo["id"])).status_code == 201


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GIF89a, not one of ours, whatever its name says", 415),
        (samples.png(300, 200)[:-400], 422),  # truncated
        (b"", 422),
        (samples.png_bomb(), 422),
        (samples.scan_bomb(), 422),
    ],
    ids=["not-an-image", "truncated", "empty", "pixel-bomb", "scan-bomb"],
)
async def test_a_file_the_photo_pipeline_refuses_is_refused_the_same_way_and_leaves_nothing(
    app: Litestar, client: httpx.AsyncClient, storage: Storage, data: bytes, status: int
) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    response = await upload_photo(client, one, match_id, data)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert not objects(storage)
    assert await app.state.db.pool.fetchval("SELECT count(*) FROM chat_photos") == 0


async def test_a_file_over_the_upload_limit_is_413(app: Litestar, client: httpx.AsyncClient) -> None:
    [(one, _, match_id)] = await pairs(app, client)
    limit = app.state.settings.config.photos.max_upload_mb * 1024 * 1024
    response = await upload_photo(client, one, match_id, b"\xff\xd8\xff" + bytes(limit))
    assert response.status_code == 413, response.text


async def test_uploads_past_the_hourly_limit_are_429(app: Litestar, client: httpx.AsyncClient) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    tiny = samples.png(32, 32)
    for _ in range(app.state.settings.config.chat.photos_per_hour):
        assert (await upload_photo(client, one, match_id, tiny)).status_code == 201
    refused = await upload_photo(client, one, match_id, tiny)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert (await upload_photo(client, other, match_id, tiny)).status_code == 201  # the limit is per person
