"""With `[photos] blur_until_match`, people who have not matched see only each other's blurred photos."""

from __future__ import annotations

import uuid

import pytest

from server import settings as settings_module
from server.app import profile_service
from tests.factories import bearer, fetch, my_photos, register, run_jobs, uploaded


@pytest.fixture
def blur_until_match(app, stack):
    """harvest.toml says `[photos] blur_until_match = true`, and the API runs with it, as after a restart."""
    config = stack.root / "etc/harvest/harvest.toml"
    original = config.read_text()
    config.write_text(original + "\n[photos]\nblur_until_match = true\n")
    settings_module.current.cache_clear()
    before = app.state.settings
    app.state.settings = settings_module.current()
    assert app.state.settings.config.photos.blur_until_match
    yield
    config.write_text(original)
    settings_module.current.cache_clear()
    app.state.settings = before


async def _pictured_pair(client, db, valkey) -> tuple[dict, dict]:
    """Two people: the first with one approved photo, the second looking at them."""
    shown, viewer = await register(client), await register(client)
    await uploaded(client, shown["accessToken"])
    await run_jobs(valkey, db)
    return shown, viewer


async def _seen_urls(client, shown: dict, viewer: dict) -> dict:
    response = await client.get(f"/api/users/{shown['user']['id']}", headers=bearer(viewer["accessToken"]))
    assert response.status_code == 200, response.text
    [photo] = response.json()["photos"]
    return photo["urls"]


async def _match(db, shown: dict, viewer: dict) -> uuid.UUID:
    user_a, user_b = sorted([uuid.UUID(shown["user"]["id"]), uuid.UUID(viewer["user"]["id"])])
    match_id = uuid.uuid4()
    await db.pool.execute("INSERT INTO matches (id, user_a, user_b) VALUES ($1, $2, $3)", match_id, user_a, user_b)
    return match_id


async def test_unmatched_viewers_get_only_the_blurred_link_and_a_match_reveals_the_rest(
    client, db, valkey, blur_until_match
):
    shown, viewer = await _pictured_pair(client, db, valkey)
    urls = await _seen_urls(client, shown, viewer)
    assert urls["large"] is None and urls["thumb"] is None
    assert (await fetch(client, urls["blurred"])).status_code == 200

    match_id = await _match(db, shown, viewer)
    urls = await _seen_urls(client, shown, viewer)
    for variant in ("large", "thumb", "blurred"):
        assert (await fetch(client, urls[variant])).status_code == 200, variant

    await db.pool.execute(
        "UPDATE matches SET ended_at = now(), ended_by = $2 WHERE id = $1", match_id, viewer["user"]["id"]
    )
    urls = await _seen_urls(client, shown, viewer)
    assert urls["large"] is None and urls["thumb"] is None and urls["blurred"]


async def test_a_match_with_someone_else_reveals_nothing(client, db, valkey, blur_until_match):
    shown, viewer = await _pictured_pair(client, db, valkey)
    third = await register(client)
    await _match(db, shown, third)
    await _match(db, viewer, third)
    urls = await _seen_urls(client, shown, viewer)
    assert urls["large"] is None and urls["thumb"] is None


async def test_cards_for_many_people_blur_each_unmatched_one(app, client, db, valkey, blur_until_match):
    viewer = await register(client)
    people = [await register(client) for _ in range(3)]
    for person in people:
        await uploaded(client, person["accessToken"])
    await run_jobs(valkey, db)
    await _match(db, people[1], viewer)
    ids = [uuid.UUID(person["user"]["id"]) for person in people]
    cards = await profile_service(app.state).public_cards(uuid.UUID(viewer["user"]["id"]), ids)
    sharp = [card.photos[0].urls.large is not None for card in cards]
    assert [card.id for card in cards] == ids and sharp == [False, True, False]
    assert all(card.photos[0].urls.blurred for card in cards)


async def test_owners_always_get_every_link_of_their_own_photos(client, db, valkey, blur_until_match):
    shown, _ = await _pictured_pair(client, db, valkey)
    [mine] = await my_photos(client, shown["accessToken"])
    assert all(mine["urls"][variant] for variant in ("large", "thumb", "blurred"))


async def test_with_the_setting_off_unmatched_viewers_get_every_link(client, db, valkey):
    shown, viewer = await _pictured_pair(client, db, valkey)
    urls = await _seen_urls(client, shown, viewer)
    for variant in ("large", "thumb", "blurred"):
        assert (await fetch(client, urls[variant])).status_code == 200, variant
