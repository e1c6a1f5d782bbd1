"""The discovery index: one row per person who could appear in a deck, holding everything the deck query
filters and ranks on, so a deck reads one table through one index.

A row is a function of the person's account, profile, preferences, location and photos: ``refresh`` works
it out again from those in the very transaction that changes one of them (profiles, photos, roles), so a
deck never reads a stale row; rebuilding it is always safe, and ``REFRESH`` queues a rebuild for the worker
(an upgrade queues one for everyone).

Where people are is indexed by squares of a plain latitude/longitude grid at two sizes: fine squares for
the usual search radius, coarse ones when a radius would need too many fine squares. A deck probes the
squares (and genders) it needs one at a time, nearest first and most recently active people first within
each, and stops once it has enough people to rank, so the work per deck is bounded by the deck's size,
not by how many people live in a city.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from typing import Literal, NamedTuple

from server.auth import accounts
from server.auth.roles import Role
from server.auth.schemas import Gender
from server.auth.tables import User
from server.moderation import measures
from server.photos.states import PhotoState
from server.photos.tables import Photo
from server.platform import database
from server.profiles import geo
from server.profiles.preferences import preferences_of
from server.profiles.schemas import Goal
from server.profiles.tables import Location
from server.profiles.tables import Profile as ProfileRow

#: an event asking the worker to rebuild one person's row: {userId}
REFRESH = "matching.refresh"

GENDER_BITS: dict[Gender, int] = {"woman": 1, "man": 2, "nonbinary": 4}
GOAL_BITS: dict[Goal, int] = {"long-term": 1, "short-term": 2, "friendship": 4, "not-sure": 8}

FINE_DEGREES = 0.25
COARSE_DEGREES = 2.5
#: past this many fine squares a deck probes the coarse ones instead
MAX_FINE_SQUARES = 48
_COLUMNS_PER_ROW = 10_000


def bits(values: Iterable[str], table: dict[str, int]) -> int:
    mask = 0
    for value in values:
        mask |= table[value]
    return mask


def square(lat: float, lng: float, step: float) -> int:
    """The id of the grid square of side ``step`` degrees holding (lat, lng)."""
    row = min(math.floor((lat + 90) / step), math.ceil(180 / step) - 1)
    column = math.floor((lng + 180) / step) % math.ceil(360 / step)
    return row * _COLUMNS_PER_ROW + column


def region_and_area(cell: geo.Cell) -> tuple[int, int]:
    return square(cell.lat, cell.lng, FINE_DEGREES), square(cell.lat, cell.lng, COARSE_DEGREES)


def _squares_within(cell: geo.Cell, km: float, step: float) -> list[int]:
    """Every square of side ``step`` that holds a point within ``km`` of ``cell`` (a superset: the box
    around the circle), nearest first."""
    dlat = km / geo.KM_PER_DEGREE
    south, north = max(-90.0, cell.lat - dlat), min(90.0, cell.lat + dlat)
    widest = max(abs(south), abs(north))
    columns = math.ceil(360 / step)
    if widest >= 89.9 or km / (geo.KM_PER_DEGREE * math.cos(math.radians(widest))) >= 180:
        column_ids = range(columns)  # the circle reaches round the pole or the whole way round
    else:
        dlng = km / (geo.KM_PER_DEGREE * math.cos(math.radians(widest)))
        first = math.floor((cell.lng - dlng + 180) / step)
        last = math.floor((cell.lng + dlng + 180) / step)
        column_ids = range(first, last + 1) if last - first + 1 < columns else range(columns)
    first_row = math.floor((south + 90) / step)
    last_row = min(math.floor((north + 90) / step), math.ceil(180 / step) - 1)
    found = {
        row * _COLUMNS_PER_ROW + column % columns for row in range(first_row, last_row + 1) for column in column_ids
    }
    return sorted(found, key=lambda square_id: (geo.distance_km(cell, _centre(square_id, step)), square_id))


def _centre(square_id: int, step: float) -> geo.Cell:
    row, column = divmod(square_id, _COLUMNS_PER_ROW)
    return geo.Cell(-90 + (row + 0.5) * step, -180 + (column + 0.5) * step)


class Squares(NamedTuple):
    #: the indexed column the squares are ids of
    column: Literal["region", "area"]
    #: nearest first
    ids: list[int]


def squares_for(cell: geo.Cell, km: int) -> Squares:
    """The squares a deck of someone at ``cell`` looking ``km`` around must probe. Distances shown are rounded,
    so anyone less than half a km beyond the radius counts as within it."""
    reach = km + 0.5
    fine = _squares_within(cell, reach, FINE_DEGREES)
    if len(fine) <= MAX_FINE_SQUARES:
        return Squares("region", fine)
    return Squares("area", _squares_within(cell, reach, COARSE_DEGREES))


_UPSERT = """
INSERT INTO matching_candidates (
    id, region, area, cell_lat, cell_lng, gender, born, wants_genders, min_age, max_age, max_km, goal,
    wants_goals, interests, listed, joined_at, last_active_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, now())
ON CONFLICT (id) DO UPDATE SET
    region = EXCLUDED.region, area = EXCLUDED.area, cell_lat = EXCLUDED.cell_lat, cell_lng = EXCLUDED.cell_lng,
    gender = EXCLUDED.gender, born = EXCLUDED.born, wants_genders = EXCLUDED.wants_genders,
    min_age = EXCLUDED.min_age, max_age = EXCLUDED.max_age, max_km = EXCLUDED.max_km, goal = EXCLUDED.goal,
    wants_goals = EXCLUDED.wants_goals, interests = EXCLUDED.interests, listed = EXCLUDED.listed
"""


async def refresh(user_id: uuid.UUID) -> None:
    """Work the person's row out again from their account, profile, preferences, location and photos, in the
    caller's transaction when there is one. Someone with no place yet, or who is staff, has no row."""
    person = await accounts.identity(user_id)
    account = await User.select(User.role, User.created_at).where(User.id == user_id).first()
    place = await Location.select(Location.cell_lat, Location.cell_lng).where(Location.user == user_id).first()
    engine = database.engine()
    # Only members looking for a match are in decks: staff (even promoted members) and the unplaced are not.
    if (
        person is None
        or account is None
        or account["role"] != Role.USER
        or person.date_of_birth is None
        or person.gender is None
        or place is None
    ):
        async with database.connection(engine) as connection:
            await connection.execute("DELETE FROM matching_candidates WHERE id = $1", user_id)
        return
    profile = (
        await ProfileRow.select(ProfileRow.relationship_goal, ProfileRow.interests)
        .where(ProfileRow.user == user_id)
        .first()
    ) or {"relationship_goal": None, "interests": []}
    wants = await preferences_of(user_id)
    has_photo = await Photo.exists().where((Photo.user == user_id) & (Photo.state == PhotoState.APPROVED))
    cell = geo.Cell(place["cell_lat"], place["cell_lng"])
    region, area = region_and_area(cell)
    async with database.connection(engine) as connection:
        # A restriction, suspension or ban keeps the person out of every deck while it stands.
        listed = has_photo and not await measures.standing(connection, user_id)
        await connection.execute(
            _UPSERT,
            user_id,
            region,
            area,
            cell.lat,
            cell.lng,
            GENDER_BITS[person.gender],  # type: ignore[index]
            person.date_of_birth,
            bits(wants.preferred_genders, GENDER_BITS),  # type: ignore[arg-type]
            wants.min_age,
            wants.max_age,
            wants.max_distance_km,
            GOAL_BITS.get(profile["relationship_goal"], 0),
            bits(wants.relationship_goals, GOAL_BITS),  # type: ignore[arg-type]
            profile["interests"],
            listed,
            account["created_at"],
        )
