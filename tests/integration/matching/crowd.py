"""People for the discovery tests and the API calls they make, plus the deck rule of the contract written out
in Python, so a test can work out who belongs in a deck without asking the server's own query."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from litestar import Litestar

from server.auth.accounts import age_on
from server.matching import candidates
from server.profiles import geo
from server.profiles.preferences import default_preferences
from tests.factories import bearer, people_in_postgres, run_jobs, with_approved_photo
from tests.integration.profiles.test_location import moved

BERLIN = (52.5200, 13.4050)
DECK = "/api/matches/potential"
SWIPE = "/api/matches/swipe"
MY_MATCHES = "/api/matches/my-matches"
UNMATCH = "/api/matches/unmatch"
#: no deck in these tests comes near this many pages; past it paging is going round in circles
MAX_PAGES = 60


@dataclass
class Member:
    """One person as the test set them up: what the deck rule reads about them."""

    answer: dict[str, Any]
    gender: str
    born: dt.date
    goal: str | None = None
    interests: list[str] = field(default_factory=list)
    #: None: the defaults a new account starts with (never edited)
    preferences: dict[str, Any] | None = None
    #: where they said they are; None: they never shared a place
    place: tuple[float, float] | None = None
    listed: bool = True

    @property
    def id(self) -> str:
        return str(self.answer["user"]["id"])

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.answer["accessToken"])

    def cell(self, grid_km: float) -> geo.Cell | None:
        return geo.snap_to_grid(*self.place, grid_km) if self.place else None

    def wants(self, today: dt.date) -> dict[str, Any]:
        """Their preferences in the API's words, defaults included."""
        if self.preferences is not None:
            return self.preferences
        defaults = default_preferences(age_on(self.born, today))
        return {
            "minAge": defaults.min_age,
            "maxAge": defaults.max_age,
            "maxDistanceKm": defaults.max_distance_km,
            "preferredGenders": list(defaults.preferred_genders),
            "relationshipGoals": list(defaults.relationship_goals),
        }


def wanted_by(seeker: Member, other: Member, today: dt.date) -> bool:
    """One direction of the rule: ``other`` is of a gender, age and goal ``seeker`` looks for."""
    wants = seeker.wants(today)
    goal_fits = not wants["relationshipGoals"] or other.goal is None or other.goal in wants["relationshipGoals"]
    return (
        other.gender in wants["preferredGenders"]
        and wants["minAge"] <= age_on(other.born, today) <= wants["maxAge"]
        and goal_fits
    )


def belongs_in_deck(
    seeker: Member, other: Member, swipes: dict[tuple[str, str], str], grid_km: float, today: dt.date
) -> bool:
    """The contract's deck rule: whether ``other`` is in ``seeker``'s deck."""
    mine, theirs = seeker.cell(grid_km), other.cell(grid_km)
    if other.id == seeker.id or not other.listed or mine is None or theirs is None:
        return False
    reach = min(seeker.wants(today)["maxDistanceKm"], other.wants(today)["maxDistanceKm"])
    return (
        wanted_by(seeker, other, today)
        and wanted_by(other, seeker, today)
        and geo.shown_km(mine, theirs) <= reach
        and (seeker.id, other.id) not in swipes
        and swipes.get((other.id, seeker.id)) != "pass"
    )


async def set_up(client: httpx.AsyncClient, member: Member) -> None:
    """Profile, preferences and place through the API, as the app sends them."""
    profile = {"relationshipGoal": member.goal, "interests": member.interests}
    response = await client.put("/api/users/profile", json=profile, headers=member.headers)
    assert response.status_code == 200, response.text
    if member.preferences is not None:
        response = await client.put("/api/users/preferences", json=member.preferences, headers=member.headers)
        assert response.status_code == 200, response.text
    if member.place is not None:
        response = await client.put(
            "/api/users/location", json={"lat": member.place[0], "lng": member.place[1]}, headers=member.headers
        )
        assert response.status_code == 204, response.text


async def neighbours(
    app: Litestar, client: httpx.AsyncClient, count: int, near: tuple[float, float] = BERLIN, **spec: Any
) -> list[dict[str, Any]]:
    """``count`` people of one age a few hundred metres apart, each with a place and an approved photo, all
    wanting one another (the default preferences): everyone is in everyone's deck. Listed once the caller runs
    the jobs."""
    people = await people_in_postgres(app, *[spec] * count)
    for index, person in enumerate(people):
        lat, lng = moved(*near, 0.3 * (index % 7), 51.0 * index)
        response = await client.put("/api/users/location", json={"lat": lat, "lng": lng}, headers=headers(person))
        assert response.status_code == 204, response.text
    await with_approved_photo(app.state.db, *[ids(person) for person in people])
    return people


async def listed_neighbours(
    app: Litestar, client: httpx.AsyncClient, valkey: Any, count: int, **spec: Any
) -> list[dict[str, Any]]:
    people = await neighbours(app, client, count, **spec)
    await run_jobs(valkey, app.state.db)
    return people


async def crowd_in_one_cell(app: Litestar, count: int, near: tuple[float, float] = BERLIN) -> list[dict[str, Any]]:
    """``count`` discoverable people written straight into Postgres (place and photo) and indexed at once,
    for tests that need hundreds: one cell, default preferences, everyone in everyone's deck."""
    db = app.state.db
    people = await people_in_postgres(app, *[{}] * count)
    cell = geo.snap_to_grid(*near, app.state.settings.config.location.grid_km)
    await db.pool.executemany(
        'INSERT INTO locations (id, "user", cell_lat, cell_lng, moved_at) VALUES (gen_random_uuid(), $1, $2, $3, now())',
        [(uuid.UUID(ids(person)), cell.lat, cell.lng) for person in people],
    )
    await db.pool.executemany(
        'INSERT INTO photos (id, "user", state, position, source_format, width, height, created_at, processed_at) '
        "VALUES (gen_random_uuid(), $1, 'approved', 0, 'jpeg', 800, 1000, now(), now())",
        [(uuid.UUID(ids(person)),) for person in people],
    )
    gate = asyncio.Semaphore(16)

    async def index(person: dict[str, Any]) -> None:
        async with gate:
            await candidates.refresh(uuid.UUID(ids(person)))

    await asyncio.gather(*(index(person) for person in people))
    return people


def ids(person: dict[str, Any] | Member) -> str:
    return person.id if isinstance(person, Member) else str(person["user"]["id"])


def headers(person: dict[str, Any] | Member) -> dict[str, str]:
    return person.headers if isinstance(person, Member) else bearer(person["accessToken"])


async def deck_page(client: httpx.AsyncClient, person: dict[str, Any] | Member, **params: Any) -> httpx.Response:
    return await client.get(DECK, params=params, headers=headers(person))


async def whole_deck(
    client: httpx.AsyncClient, person: dict[str, Any] | Member, limit: int, cursor: str | None = None
) -> list[dict[str, Any]]:
    """Every card of the person's deck (from ``cursor`` on, if given), following ``nextCursor`` to the end;
    each page no longer than asked."""
    cards: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        response = await deck_page(client, person, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "nextCursor"} and len(body["items"]) <= limit, body
        cards += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            return cards
    raise AssertionError(f"the deck had not ended after {MAX_PAGES} pages of {limit}")


def card_ids(cards: list[dict[str, Any]]) -> list[str]:
    return [card["id"] for card in cards]


async def swipe(
    client: httpx.AsyncClient, person: dict[str, Any] | Member, target: Any, action: str = "like"
) -> httpx.Response:
    """``target`` is a person, or any value to send as ``userId``."""
    user_id = ids(target) if isinstance(target, dict | Member) else target
    return await client.post(SWIPE, json={"userId": user_id, "action": action}, headers=headers(person))


async def matched(client: httpx.AsyncClient, one: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Both like each other; the match the second like made."""
    assert (await swipe(client, one, other)).json() == {"matched": False, "match": None}
    response = await swipe(client, other, one)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["matched"] is True, body
    return dict(body["match"])


async def my_matches(client: httpx.AsyncClient, person: dict[str, Any], **params: Any) -> httpx.Response:
    return await client.get(MY_MATCHES, params=params, headers=headers(person))


async def count(app: Litestar, table: str) -> int:
    value: int = await app.state.db.pool.fetchval(f"SELECT count(*) FROM {table}")
    return value
