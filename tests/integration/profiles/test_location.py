"""Private locations: only grid cells are stored, distances are whole km between cells, and moving
around to triangulate someone runs into the location limits."""

from __future__ import annotations

import math

from server.profiles import geo
from tests.factories import bearer, register

BERLIN = (52.5200, 13.4050)


def moved(lat: float, lng: float, km: float, bearing_degrees: float) -> tuple[float, float]:
    """The point ``km`` away from (lat, lng) along a bearing, on a sphere."""
    delta, theta = km / geo.EARTH_KM, math.radians(bearing_degrees)
    phi1, lam1 = math.radians(lat), math.radians(lng)
    phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta))
    lam2 = lam1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * math.sin(phi2)
    )
    return math.degrees(phi2), math.degrees(lam2)


async def locate(client, person: dict, lat: float, lng: float):
    return await client.put("/api/users/location", json={"lat": lat, "lng": lng}, headers=bearer(person["accessToken"]))


async def distance_seen(client, viewer: dict, target: dict) -> int | None:
    response = await client.get(f"/api/users/{target['user']['id']}", headers=bearer(viewer["accessToken"]))
    assert response.status_code == 200, response.text
    return response.json()["distanceKm"]


async def test_only_the_grid_cell_is_stored(client, db, stack):
    me = await register(client)
    exact = (52.520008, 13.404954)
    assert (await locate(client, me, *exact)).status_code == 204
    row = await db.pool.fetchrow("SELECT cell_lat, cell_lng FROM locations")
    assert (row["cell_lat"], row["cell_lng"]) == geo.snap_to_grid(*exact, stack.settings.config.location.grid_km)
    assert (row["cell_lat"], row["cell_lng"]) != exact
    dump = await db.pool.fetchval("SELECT string_agg(t::text, ' ') FROM locations t")
    assert "52.520008" not in dump and "13.404954" not in dump
    export = (await client.get("/api/users/export", headers=bearer(me["accessToken"]))).json()
    assert "52.520008" not in str(export)


async def test_people_3_4_km_apart_see_a_whole_number_of_km_close_to_the_truth(client, valkey):
    for bearing in (0, 37, 90, 145, 230, 300):
        a, b = await register(client), await register(client)
        there = moved(*BERLIN, 3.4, bearing)
        await locate(client, a, *BERLIN)
        await locate(client, b, *there)
        truth = geo.distance_km(geo.Cell(*BERLIN), geo.Cell(*there))
        seen_by_a, seen_by_b = await distance_seen(client, a, b), await distance_seen(client, b, a)
        assert isinstance(seen_by_a, int) and seen_by_a == seen_by_b
        assert abs(seen_by_a - truth) <= 1.5, (bearing, seen_by_a, truth)
        await _forget_registrations(valkey)


async def _forget_registrations(valkey) -> None:
    """Registrations per address are capped; these tests register more people than one hour allows."""
    for key in await valkey.keys("rl:register-ip:*"):
        await valkey.delete(key)


async def test_distance_is_at_least_1_km(client):
    a, b = await register(client), await register(client)
    await locate(client, a, *BERLIN)
    await locate(client, b, *moved(*BERLIN, 0.05, 10))
    assert await distance_seen(client, a, b) == 1


async def test_two_people_in_one_cell_are_indistinguishable_to_everyone_else(client, stack, db, valkey):
    grid = stack.settings.config.location.grid_km
    centre = geo.snap_to_grid(*BERLIN, grid)
    half_row = grid / geo.KM_PER_DEGREE / 2
    first, second = (centre.lat - 0.8 * half_row, centre.lng), (centre.lat + 0.8 * half_row, centre.lng)
    assert geo.snap_to_grid(*first, grid) == geo.snap_to_grid(*second, grid) == centre
    assert geo.distance_km(geo.Cell(*first), geo.Cell(*second)) > 0.7 * grid  # really apart
    one, two = await register(client), await register(client)
    await locate(client, one, *first)
    await locate(client, two, *second)
    rows = await db.pool.fetch("SELECT cell_lat, cell_lng FROM locations ORDER BY cell_lat")
    assert rows[0] == rows[1]

    # Viewers all around, near and far, ask about both: every answer must be the same.
    viewers = []
    for index, (km, bearing) in enumerate(
        [(0.3, 0), (0.9, 90), (1.6, 200), (2.5, 45), (4.9, 310), (7.2, 160), (12.0, 270)]
    ):
        if index and index % 4 == 0:
            await _forget_registrations(valkey)
        viewer = await register(client)
        await locate(client, viewer, *moved(*first, km, bearing))
        viewers.append(viewer)
    for viewer in viewers:
        views = []
        for target in (one, two):
            response = await client.get(f"/api/users/{target['user']['id']}", headers=bearer(viewer["accessToken"]))
            body = response.json()
            del body["id"]
            views.append(body)
        assert views[0] == views[1]


async def test_moving_around_to_triangulate_hits_the_location_limit(client, stack):
    attacker = await register(client)
    limit = stack.settings.config.location.changes_per_hour
    statuses = []
    for step in range(limit + 2):
        # One cell over each time: a walk no speed check can object to.
        statuses.append((await locate(client, attacker, *moved(*BERLIN, 1.0 * step, 90))).status_code)
    assert statuses[:limit] == [204] * limit
    refused = await locate(client, attacker, *moved(*BERLIN, 1.0 * (limit + 3), 90))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_sending_the_same_place_again_costs_nothing(client, stack):
    me = await register(client)
    for _ in range(stack.settings.config.location.changes_per_hour + 5):
        assert (await locate(client, me, *BERLIN)).status_code == 204


async def test_a_jump_faster_than_a_plane_is_refused(client):
    me = await register(client)
    assert (await locate(client, me, *BERLIN)).status_code == 204
    new_york = (40.7128, -74.0060)
    response = await locate(client, me, *new_york)
    assert response.status_code == 429
    # ~6,400 km at 1,000 km/h: hours before such a move is believable.
    assert int(response.headers["Retry-After"]) > 5 * 3600
    assert "plane" in response.json()["detail"]


async def test_coordinates_out_of_range_are_named(client):
    me = await register(client)
    for body, field in (({"lat": 91, "lng": 0}, "lat"), ({"lat": 0, "lng": -180.5}, "lng"), ({"lat": 10}, "lng")):
        response = await client.put("/api/users/location", json=body, headers=bearer(me["accessToken"]))
        assert response.status_code in (400, 422)
        assert field in str(response.json())


async def test_moves_refused_as_too_fast_do_not_use_up_the_hourly_quota(client, stack):
    me = await register(client)
    limit = stack.settings.config.location.changes_per_hour
    assert (await locate(client, me, *BERLIN)).status_code == 204
    new_york = (40.7128, -74.0060)
    for _ in range(limit):
        assert (await locate(client, me, *new_york)).status_code == 429
    # Every move the quota allows is still there: one cell over each time.
    statuses = [(await locate(client, me, *moved(*BERLIN, 1.0 * step, 90))).status_code for step in range(1, limit)]
    assert statuses == [204] * (limit - 1)
