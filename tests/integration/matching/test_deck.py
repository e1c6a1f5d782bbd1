"""The deck: who enters it and when, who never comes back, and how it pages."""

from __future__ import annotations

import base64

import httpx
import pytest
from litestar import Litestar
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey

from server.profiles import geo
from tests.factories import bearer, fields, people_in_postgres, register, run_jobs, uploaded
from tests.integration.matching.crowd import (
    card_ids,
    deck_page,
    ids,
    listed_neighbours,
    swipe,
    whole_deck,
)
from tests.services import Stack


async def test_a_processed_upload_is_what_brings_someone_into_decks(
    client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey, stack: Stack
) -> None:
    seeker, newcomer = await register(client), await register(client)
    places = [(52.5200, 13.4050), (52.5300, 13.4200)]
    for person, place in zip((seeker, newcomer), places, strict=True):
        response = await client.put(
            "/api/users/location", json={"lat": place[0], "lng": place[1]}, headers=bearer(person["accessToken"])
        )
        assert response.status_code == 204
    await run_jobs(valkey, db)
    assert card_ids(await whole_deck(client, seeker, limit=10)) == []
    assert (await swipe(client, seeker, newcomer)).status_code == 404  # not discoverable without a photo

    await uploaded(client, newcomer["accessToken"])
    await run_jobs(valkey, db)  # processing approves it, and the discovery index hears of it
    [card] = await whole_deck(client, seeker, limit=10)
    grid = stack.settings.config.location.grid_km
    cells = [geo.snap_to_grid(*place, grid) for place in places]
    assert card["id"] == ids(newcomer) and card["distanceKm"] == geo.shown_km(*cells)
    assert card["sharedInterests"] == [] and [p["state"] for p in card["photos"]] == ["approved"]
    assert (await swipe(client, seeker, newcomer)).status_code == 200


async def test_without_a_location_there_is_no_deck(app: Litestar, client: httpx.AsyncClient, valkey: Valkey) -> None:
    await listed_neighbours(app, client, valkey, 2)
    [homeless] = await people_in_postgres(app, {})
    response = await deck_page(client, homeless)
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_swiped_people_never_come_back_and_a_pass_hides_the_one_who_passed(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, liked, passed, passer, fan, stranger = await listed_neighbours(app, client, valkey, 6)
    for swiper, target, action in (
        (me, liked, "like"),
        (me, passed, "pass"),
        (passer, me, "pass"),
        (fan, me, "superlike"),
    ):
        assert (await swipe(client, swiper, target, action)).status_code == 200

    assert sorted(card_ids(await whole_deck(client, me, limit=2))) == sorted([ids(fan), ids(stranger)])
    # From the other side: a like leaves the liker in the liked one's deck, a pass does not.
    assert ids(me) in card_ids(await whole_deck(client, liked, limit=10))
    assert ids(me) not in card_ids(await whole_deck(client, passed, limit=10))
    assert ids(me) not in card_ids(await whole_deck(client, passer, limit=10))


async def test_a_kept_deck_skips_whoever_the_seeker_swiped_while_paging(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, *others = await listed_neighbours(app, client, valkey, 13)
    first = await deck_page(client, me, limit=4)
    assert first.status_code == 200
    on_first = card_ids(first.json()["items"])
    assert len(on_first) == 4 and first.json()["nextCursor"]
    later = [ids(o) for o in others if ids(o) not in on_first]
    liked, passed = later[0], later[-1]
    assert (await swipe(client, me, liked, "like")).status_code == 200
    assert (await swipe(client, me, passed, "pass")).status_code == 200

    seen = on_first + card_ids(await whole_deck(client, me, limit=4, cursor=first.json()["nextCursor"]))
    assert len(seen) == len(set(seen)), "paging repeated a card"
    assert set(seen) == {ids(o) for o in others} - {liked, passed}


async def test_paging_a_deck_shows_everyone_once_with_the_default_page_of_20(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, *others = await listed_neighbours(app, client, valkey, 26)
    first = await deck_page(client, me)
    assert first.status_code == 200
    assert len(first.json()["items"]) == 20 and first.json()["nextCursor"]
    seen = card_ids(first.json()["items"]) + card_ids(
        await whole_deck(client, me, limit=100, cursor=first.json()["nextCursor"])
    )
    assert sorted(seen) == sorted(ids(o) for o in others)


def _tampered(cursor: str) -> list[str]:
    body, _, mac = cursor.partition(".")
    position = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    edited = base64.urlsafe_b64encode(position[:-2] + b"9]").rstrip(b"=").decode()
    return [f"{edited}.{mac}", f"{body}.{mac[:-2]}", body, "x" * 40, f"{body}.{mac}x"]


async def test_a_deck_cursor_is_the_callers_own_and_cannot_be_edited(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, other, *_ = await listed_neighbours(app, client, valkey, 8)
    cursor = (await deck_page(client, me, limit=2)).json()["nextCursor"]
    assert cursor
    assert (await deck_page(client, other, limit=2)).status_code == 200
    for forged in [cursor, *_tampered(cursor)]:
        response = await deck_page(client, other, limit=2, cursor=forged)
        assert response.status_code == 422, (forged, response.text)
        assert fields(response) == {"cursor"}
    for forged in _tampered(cursor):
        response = await deck_page(client, me, limit=2, cursor=forged)
        assert response.status_code == 422, (forged, response.text)
        assert fields(response) == {"cursor"}
    assert (await deck_page(client, me, limit=2, cursor=cursor)).status_code == 200


@pytest.mark.parametrize("limit", ["0", "101", "-3", "many"])
async def test_a_deck_limit_out_of_bounds_is_refused_naming_it(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, limit: str
) -> None:
    [me, _] = await listed_neighbours(app, client, valkey, 2)
    response = await client.get(f"/api/matches/potential?limit={limit}", headers=bearer(me["accessToken"]))
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "limit" in response.json()["detail"]


async def test_each_served_card_counts_one_exposure_for_the_fairness_term(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, you, *others = await listed_neighbours(app, client, valkey, 5)
    first = await deck_page(client, me, limit=2)
    second = await deck_page(client, you, limit=4)
    await run_jobs(valkey, app.state.db)
    rows = await app.state.db.pool.fetch(
        "SELECT c.id::text, coalesce(e.shown, 0) AS shown FROM matching_candidates c"
        " LEFT JOIN matching_exposure e ON e.id = c.id"
    )
    shown = {row["id"]: row["shown"] for row in rows}
    expected = {ids(person): 0 for person in (me, you, *others)}
    for card in [*first.json()["items"], *second.json()["items"]]:
        expected[card["id"]] += 1
    assert shown == expected and sum(shown.values()) == 6


async def test_the_ranking_puts_a_superlike_then_shared_interests_then_the_much_shown_and_little_liked(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, plain, sharer, superliker, overexposed = await listed_neighbours(app, client, valkey, 5)
    for person, interests in ((me, ["hiking", "coffee", "cooking"]), (sharer, ["hiking", "coffee", "cooking"])):
        response = await client.put(
            "/api/users/profile", json={"interests": interests}, headers=bearer(person["accessToken"])
        )
        assert response.status_code == 200, response.text
    assert (await swipe(client, superliker, me, "superlike")).status_code == 200
    # Shown ten thousand times and liked ten: the fairness term sinks them below an equal newcomer.
    await app.state.db.pool.execute(
        "INSERT INTO matching_exposure (id, shown, liked) VALUES ($1::uuid, 10000, 10)", ids(overexposed)
    )
    await app.state.db.pool.execute("UPDATE matching_candidates SET last_active_at = now()")
    await run_jobs(valkey, app.state.db)
    order = card_ids((await deck_page(client, me)).json()["items"])
    assert order == [ids(superliker), ids(sharer), ids(plain), ids(overexposed)]
