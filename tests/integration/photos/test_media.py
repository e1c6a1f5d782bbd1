"""Signed ``/media`` links at the origin: one spelling per link, and a withdrawn photo is refused at once."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import pytest

from server.photos.media import MAX_AGE
from tests.factories import PASSWORD, bearer, fetch, my_photos, register, run_jobs, uploaded


async def _approved_link(client, db, valkey) -> tuple[dict, dict, str]:
    """Someone with one processed photo, the photo, and its large variant's link as served."""
    me = await register(client)
    await uploaded(client, me["accessToken"])
    await run_jobs(valkey, db)
    [photo] = await my_photos(client, me["accessToken"])
    url = photo["urls"]["large"]
    served = await fetch(client, url)
    assert served.status_code == 200
    return me, photo, url


async def test_a_served_variant_may_be_cached_for_half_a_minute_at_most(client, db, valkey):
    _, _, url = await _approved_link(client, db, valkey)
    response = await fetch(client, url)
    assert response.headers["cache-control"] == f"public, max-age={MAX_AGE}"
    assert MAX_AGE * 2 <= 60, "nginx's copy plus the client's copy must stay within a minute"


async def test_a_deleted_photo_is_refused_at_once_though_its_objects_are_not_purged_yet(client, db, valkey):
    me, photo, url = await _approved_link(client, db, valkey)
    response = await client.delete(f"/api/users/photos/{photo['id']}", headers=bearer(me["accessToken"]))
    assert response.status_code == 204
    # The purge job has not run: the objects are still in storage, and the link is still correctly signed.
    gone = await fetch(client, url)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")


async def test_an_erased_persons_photo_is_refused_at_once(client, db, valkey):
    me, _, url = await _approved_link(client, db, valkey)
    erased = await client.request(
        "DELETE", "/api/users/profile", json={"password": PASSWORD}, headers=bearer(me["accessToken"])
    )
    assert erased.status_code == 204
    assert (await fetch(client, url)).status_code == 404


async def test_a_photo_a_moderator_rejects_is_refused_at_once(client, db, valkey):
    _, photo, url = await _approved_link(client, db, valkey)
    await db.pool.execute("UPDATE photos SET state = 'rejected' WHERE id = $1", uuid.UUID(photo["id"]))
    assert (await fetch(client, url)).status_code == 404


def _respelled(url: str) -> list[str]:
    """The same link in every spelling a lenient parser would take for it."""
    parts = urlsplit(url)
    found = re.fullmatch(r"/media/([0-9a-f-]{36})/(\w+)\.webp", parts.path)
    assert found, url
    photo_id, variant = found.groups()
    expires = re.search(r"exp=(\d+)", parts.query).group(1)  # type: ignore[union-attr]
    query = parts.query
    return [
        f"/media/{photo_id.upper()}/{variant}.webp?{query}",
        f"/media/{photo_id.replace('-', '')}/{variant}.webp?{query}",
        f"/media/{{{photo_id}}}/{variant}.webp?{query}",
        f"/media/urn:uuid:{photo_id}/{variant}.webp?{query}",
        f"/media/{photo_id}/{variant}?{query}",
        f"/media/{photo_id}/{variant.upper()}.webp?{query}",
        f"/media/{photo_id}/{variant}.WEBP?{query}",
        f"/media/{photo_id}/{variant}.webp?{query.replace(f'exp={expires}', f'exp={expires}.0')}",
        f"/media/{photo_id}/{variant}.webp?{query.replace(f'exp={expires}', f'exp=0{expires}')}",
        f"/media/{photo_id}/{variant}.webp?{query.replace(f'exp={expires}', f'exp=+{expires}')}",
        f"/media/{photo_id}/{variant}.webp?{query.replace(f'exp={expires}', f'exp={expires}%20')}",
    ]


async def test_only_the_spelling_a_link_was_issued_in_is_served(client, db, valkey):
    _, _, url = await _approved_link(client, db, valkey)
    for respelled in _respelled(url):
        response = await client.get(respelled)
        assert response.status_code in (403, 404), respelled
        assert response.headers["content-type"].startswith("application/problem+json"), respelled


@pytest.mark.parametrize("signature", ["%C3%A9" * 12, "%00" * 24, "\u00e9", "a" * 5000])
async def test_a_signature_that_is_not_base64_is_refused_with_403(client, db, valkey, signature):
    photo_id = uuid.uuid4()
    response = await client.get(f"/media/{photo_id}/large.webp?exp=9999999999&sig={signature}")
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
