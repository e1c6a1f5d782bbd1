"""Grid snapping and distances: the only place exact positions exist, and what leaves it."""

from __future__ import annotations

import math
import random

import pytest

from server.profiles import geo


@pytest.mark.parametrize("cell_km", [0.5, 1.0, 2.0])
def test_every_point_snaps_to_a_centre_within_its_cell(cell_km):
    rng = random.Random(7)
    for _ in range(2000):
        lat, lng = rng.uniform(-80, 80), rng.uniform(-180, 180)
        centre = geo.snap_to_grid(lat, lng, cell_km)
        # Inside the cell means within half a cell's diagonal of its centre.
        assert geo.distance_km(geo.Cell(lat, lng), centre) <= cell_km * math.sqrt(2) / 2 + 1e-6
        assert geo.snap_to_grid(*centre, cell_km) == centre  # a centre is its own cell


def test_cells_are_about_as_wide_as_configured():
    a = geo.snap_to_grid(52.52, 13.405, 1.0)
    east = geo.snap_to_grid(a.lat, a.lng + 1.0 / (geo.KM_PER_DEGREE * math.cos(math.radians(a.lat))), 1.0)
    north = geo.snap_to_grid(a.lat + 1.0 / geo.KM_PER_DEGREE, a.lng, 1.0)
    assert 0.95 < geo.distance_km(a, east) < 1.05
    assert 0.99 < (north.lat - a.lat) * geo.KM_PER_DEGREE < 1.01  # rows are offset, so only height is exact


def test_poles_and_the_date_line_snap_without_error():
    for lat, lng in ((90, 0), (-90, 180), (89.9999, -180), (0, 179.99999), (0, -180)):
        centre = geo.snap_to_grid(lat, lng, 1.0)
        assert -90 <= centre.lat <= 90 and -180 <= centre.lng <= 180


def test_shown_distance_error_never_exceeds_the_cell_diagonal_plus_rounding():
    """The bound behind the acceptance's ±1.5 km at 3.4 km with 1 km cells: two snaps move each end by
    at most half a diagonal, and rounding adds half a km."""
    rng = random.Random(11)
    worst = 0.0
    for _ in range(5000):
        lat, lng = rng.uniform(-60, 60), rng.uniform(-170, 170)
        bearing = math.radians(rng.uniform(0, 360))
        other = (
            lat + 3.4 / geo.KM_PER_DEGREE * math.cos(bearing),
            lng + 3.4 / (geo.KM_PER_DEGREE * math.cos(math.radians(lat))) * math.sin(bearing),
        )
        truth = geo.distance_km(geo.Cell(lat, lng), geo.Cell(*other))
        shown = geo.shown_km(geo.snap_to_grid(lat, lng, 1.0), geo.snap_to_grid(*other, 1.0))
        worst = max(worst, abs(shown - truth))
    assert worst <= math.sqrt(2) + 0.5 + 1e-6


def test_a_move_within_a_cell_diagonal_is_always_plausible():
    a = geo.snap_to_grid(52.52, 13.405, 1.0)
    b = geo.snap_to_grid(52.52 + 1 / geo.KM_PER_DEGREE, 13.405, 1.0)
    assert geo.seconds_until_plausible(a, b, elapsed_seconds=0, cell_km=1.0, max_kmh=1000) == 0


def test_a_long_jump_must_wait_as_long_as_a_plane_would_take():
    berlin, paris = geo.Cell(52.52, 13.405), geo.Cell(48.8566, 2.3522)
    km = geo.distance_km(berlin, paris) - math.sqrt(2)
    assert geo.seconds_until_plausible(berlin, paris, 0, 1.0, 1000) == math.ceil(km / 1000 * 3600)
    assert geo.seconds_until_plausible(berlin, paris, 3 * 3600, 1.0, 1000) == 0
