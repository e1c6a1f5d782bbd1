"""Grid cells and distances. A position is only ever kept as the centre of its cell, so everything
anyone else can learn — distance, order, changes — is the same for every point inside one cell."""

from __future__ import annotations

import math
from typing import NamedTuple

EARTH_KM = 6371.0088
KM_PER_DEGREE = math.pi * EARTH_KM / 180


class Cell(NamedTuple):
    lat: float
    lng: float


def snap_to_grid(lat: float, lng: float, cell_km: float) -> Cell:
    """The centre of the cell holding (lat, lng): rows of equal height, each cut into equal-width cells."""
    lat_step = cell_km / KM_PER_DEGREE
    rows = math.ceil(180 / lat_step)
    row = min(int((lat + 90) // lat_step), rows - 1)
    centre_lat = min(-90 + (row + 0.5) * lat_step, 90.0)
    ring_km = 2 * math.pi * EARTH_KM * math.cos(math.radians(centre_lat))
    columns = max(1, int(ring_km // cell_km))
    lng_step = 360 / columns
    column = int((lng + 180) // lng_step) % columns
    centre_lng = -180 + (column + 0.5) * lng_step
    # Rounded so one cell is one exact pair of numbers, whatever floating point did on the way.
    return Cell(round(centre_lat, 7), round(centre_lng, 7))


def distance_km(a: Cell, b: Cell) -> float:
    """Great-circle (haversine) distance."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlng = lat2 - lat1, math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def shown_km(a: Cell, b: Cell) -> int:
    """The distance another person is shown: between cells, in whole km, never below 1."""
    return max(1, round(distance_km(a, b)))


def seconds_until_plausible(old: Cell, new: Cell, elapsed_seconds: float, cell_km: float, max_kmh: float) -> int:
    """0 when a move from ``old`` to ``new`` in the time elapsed is possible; else how long it must wait.

    Snapping can stretch a short real move by up to a cell's diagonal, so that much is allowed for free.
    """
    travelled = max(0.0, distance_km(old, new) - cell_km * math.sqrt(2))
    needed = travelled / max_kmh * 3600
    return max(0, math.ceil(needed - elapsed_seconds))
