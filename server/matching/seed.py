"""Synthetic people for the discovery benchmark, written fast with COPY, and removed again.

A seeded person is a whole account: a user (address ``seed-…@seed.bench.invalid``, a password nobody knows),
a profile, preferences, a place, one approved photo row (all of them pointing at the same processed picture;
no object exists for it) and their row in the discovery index, marked ``synthetic``. The deck shows seeded
people only to seeded people, so a real person never meets one, and ``purge`` finds them by their address.

The population is shaped like a real one where the deck's cost depends on it: thirty cities of very
different size (one holds about a fifth of everyone), people scattered a few km to ~40 km around each
centre, ages skewed young, preferences that mostly want the other gender, activity heavier in the last
days, and exposure counts that differ from person to person.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import asyncpg
from valkey.asyncio import Valkey

from server.auth.service import AuthService
from server.matching import candidates
from server.privacy import registry
from server.profiles import geo
from server.profiles.service import interests

DOMAIN = "seed.bench.invalid"
#: what every seeded address matches, and nothing else does
EMAIL_LIKE = f"seed-%@{DOMAIN}"
#: people written per transaction: big enough for COPY to pay off, small enough to keep memory flat
BATCH = 20_000
#: the one processed picture every seeded photo row claims to be
PHOTO = {"width": 1080, "height": 1350, "blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj"}


class City(NamedTuple):
    name: str
    lat: float
    lng: float


#: largest first; the k-th holds a share proportional to 1 / k^0.9, so the first has about 21 %
CITIES = (
    City("Metropolis", 51.5072, -0.1276),
    City("Northport", 52.5200, 13.4050),
    City("Riverton", 48.8566, 2.3522),
    City("Lakeside", 40.4168, -3.7038),
    City("Hillford", 41.9028, 12.4964),
    City("Eastbridge", 48.2082, 16.3738),
    City("Westhaven", 53.3498, -6.2603),
    City("Southgate", 50.0755, 14.4378),
    City("Marbury", 52.3676, 4.9041),
    City("Kingsbay", 59.3293, 18.0686),
    City("Oakvale", 45.4642, 9.1900),
    City("Fairmont", 47.4979, 19.0402),
    City("Stonebury", 55.6761, 12.5683),
    City("Ashby", 38.7223, -9.1393),
    City("Redcliff", 50.8503, 4.3517),
    City("Greywater", 52.2297, 21.0122),
    City("Elmstead", 60.1699, 24.9384),
    City("Brightwell", 53.4808, -2.2426),
    City("Thornton", 43.2965, 5.3698),
    City("Millbrook", 51.2277, 6.7735),
    City("Larkhill", 45.7640, 4.8357),
    City("Rosedale", 46.2044, 6.1432),
    City("Kettering Cross", 54.5973, -5.9301),
    City("Dunmore", 57.1497, -2.0943),
    City("Harrowgate", 44.4268, 26.1025),
    City("Wrenfield", 42.6977, 23.3219),
    City("Penmarsh", 63.4305, 10.3951),
    City("Corrin", 39.4699, -0.3763),
    City("Ivybridge", 47.0707, 15.4395),
    City("Saltash", 64.1466, -21.9426),
)
_CITY_WEIGHTS = [1 / (rank + 1) ** 0.9 for rank in range(len(CITIES))]

_NAMES = {
    "woman": ("Anna", "Maria", "Emma", "Sofia", "Julia", "Lea", "Mia", "Clara", "Nora", "Ida", "Zoe", "Lina"),
    "man": ("Lukas", "Jonas", "Noah", "Leon", "Elias", "Paul", "Ben", "Felix", "Tom", "Max", "Emil", "Oscar"),
    "nonbinary": ("Alex", "Robin", "Sam", "Kim", "Charlie", "Jules", "Eli", "Noa"),
}
_BIOS = ("", "", "Coffee first.", "Weekend hiker, weekday coder.", "Ask me about my plants.", "New in town.")
#: gender → (orientation, share, preferred genders)
_ORIENTATIONS: dict[str, tuple[tuple[str | None, float, tuple[str, ...]], ...]] = {
    "woman": (
        ("straight", 0.72, ("man",)),
        (None, 0.08, ("man",)),
        ("lesbian", 0.07, ("woman",)),
        ("bisexual", 0.09, ("woman", "man")),
        ("pansexual", 0.02, ("woman", "man", "nonbinary")),
        ("queer", 0.02, ("woman", "nonbinary")),
    ),
    "man": (
        ("straight", 0.76, ("woman",)),
        (None, 0.08, ("woman",)),
        ("gay", 0.08, ("man",)),
        ("bisexual", 0.06, ("woman", "man")),
        ("questioning", 0.02, ("woman", "man", "nonbinary")),
    ),
    "nonbinary": (
        ("queer", 0.35, ("woman", "man", "nonbinary")),
        ("pansexual", 0.25, ("woman", "man", "nonbinary")),
        ("bisexual", 0.2, ("woman", "nonbinary")),
        ("asexual", 0.1, ("nonbinary",)),
        (None, 0.1, ("woman", "man", "nonbinary")),
    ),
}
_GOALS = (("long-term", 0.38), ("short-term", 0.14), ("friendship", 0.1), ("not-sure", 0.26), (None, 0.12))
#: most people keep the default radius; the rest spread from 10 to 150 km
_RADII = (
    (10, 0.05), (15, 0.05), (20, 0.08), (25, 0.1), (30, 0.08), (40, 0.07), (50, 0.35), (75, 0.09), (100, 0.08),
    (150, 0.05),
)  # fmt: skip

USER_COLUMNS = (
    "id", "email", "password_hash", "first_name", "date_of_birth", "gender", "role", "email_verified_at", "created_at"
)  # fmt: skip
PROFILE_COLUMNS = (
    "id", "user", "bio", "sexual_orientation", "relationship_goal", "interests", "height_cm", "updated_at"
)  # fmt: skip
PREFERENCE_COLUMNS = (
    "id", "user", "min_age", "max_age", "max_distance_km", "preferred_genders", "relationship_goals", "updated_at"
)  # fmt: skip
LOCATION_COLUMNS = ("id", "user", "cell_lat", "cell_lng", "moved_at")
PHOTO_COLUMNS = (
    "id", "user", "state", "position", "source_format", "width", "height", "blurhash", "created_at", "processed_at"
)  # fmt: skip
CANDIDATE_COLUMNS = (
    "id", "region", "area", "cell_lat", "cell_lng", "gender", "born", "wants_genders", "min_age", "max_age", "max_km",
    "goal", "wants_goals", "interests", "listed", "synthetic", "joined_at", "last_active_at",
)  # fmt: skip
EXPOSURE_COLUMNS = ("id", "shown", "liked")


@dataclass
class Batch:
    """One batch of seeded people, as rows of each table in its column order."""

    users: list[tuple[Any, ...]] = field(default_factory=list)
    profiles: list[tuple[Any, ...]] = field(default_factory=list)
    preferences: list[tuple[Any, ...]] = field(default_factory=list)
    locations: list[tuple[Any, ...]] = field(default_factory=list)
    photos: list[tuple[Any, ...]] = field(default_factory=list)
    candidates: list[tuple[Any, ...]] = field(default_factory=list)
    exposures: list[tuple[Any, ...]] = field(default_factory=list)

    def tables(self) -> tuple[tuple[str, tuple[str, ...], list[tuple[Any, ...]]], ...]:
        """(table, columns, rows), in an order the foreign keys accept."""
        return (
            ("users", USER_COLUMNS, self.users),
            ("profiles", PROFILE_COLUMNS, self.profiles),
            ("preferences", PREFERENCE_COLUMNS, self.preferences),
            ("locations", LOCATION_COLUMNS, self.locations),
            ("photos", PHOTO_COLUMNS, self.photos),
            ("matching_candidates", CANDIDATE_COLUMNS, self.candidates),
            ("matching_exposure", EXPOSURE_COLUMNS, self.exposures),
        )


def _pick(rng: random.Random, options: tuple[tuple[Any, float], ...]) -> Any:
    draw = rng.random() * sum(share for _, share in options)
    for value, share in options:
        draw -= share
        if draw < 0:
            return value
    return options[-1][0]


class Population:
    """Draws seeded people, batch after batch."""

    def __init__(self, grid_km: float, now: dt.datetime, password_hash: str) -> None:
        self.rng = random.Random()  # noqa: S311 - people to measure with, not secrets
        self.grid_km = grid_km
        self.now = now
        self.today = now.date()
        #: one hash of a password nobody knows, shared: hashing a million would take hours
        self.password_hash = password_hash
        topics = list(interests())
        random.Random(7).shuffle(topics)  # noqa: S311 - a fixed order of popularity
        # A few interests are far more common than the rest, as on any real list.
        self.topics = topics
        self.topic_weights = [1 / (rank + 4) for rank in range(len(topics))]
        # Cities get a characteristic spread: the biggest sprawl, small towns are compact.
        self.spread_km = [3 + 12 * weight / _CITY_WEIGHTS[0] for weight in _CITY_WEIGHTS]

    def _place(self) -> geo.Cell:
        rng = self.rng
        index = rng.choices(range(len(CITIES)), _CITY_WEIGHTS)[0]
        city = CITIES[index]
        # Most people live near the centre, some commute in from up to ~40 km away.
        km = min(40.0, rng.expovariate(1 / self.spread_km[index])) if rng.random() < 0.93 else rng.uniform(5, 40)
        bearing = rng.uniform(0, 2 * math.pi)
        lat = city.lat + km * math.cos(bearing) / geo.KM_PER_DEGREE
        lng = city.lng + km * math.sin(bearing) / (geo.KM_PER_DEGREE * math.cos(math.radians(city.lat)))
        return geo.snap_to_grid(lat, lng, self.grid_km)

    def _age(self) -> int:
        # Gamma-shaped: most people are in their mid-twenties to mid-thirties, a long tail up to 70.
        while True:
            age = 18 + int(self.rng.gammavariate(2.2, 6.0))
            if age <= 70:
                return age

    def _interests(self) -> list[str]:
        wanted = self.rng.randint(3, 8)
        chosen: dict[str, None] = {}
        while len(chosen) < wanted:
            chosen.update(dict.fromkeys(self.rng.choices(self.topics, self.topic_weights, k=wanted - len(chosen))))
        return list(chosen)

    def batch(self, count: int) -> Batch:
        rng, now = self.rng, self.now
        batch = Batch()
        for _ in range(count):
            user_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            gender = _pick(rng, (("woman", 0.48), ("man", 0.48), ("nonbinary", 0.04)))
            orientation, wants = _pick(
                rng, tuple(((name, genders), share) for name, share, genders in _ORIENTATIONS[gender])
            )
            age = self._age()
            born = self.today - dt.timedelta(days=int((age + rng.random()) * 365.2425))
            min_age = max(18, age - rng.randint(2, 10) - (3 if gender == "man" else 0))
            max_age = min(100, age + rng.randint(2, 10) + (3 if gender == "woman" else 0))
            radius = _pick(rng, _RADII)
            goal = _pick(rng, _GOALS)
            wants_goals = [] if rng.random() < 0.6 or goal is None else [goal]
            topics = self._interests()
            cell = self._place()
            region, area = candidates.region_and_area(cell)
            joined = now - dt.timedelta(days=min(730.0, rng.expovariate(1 / 180)))
            # Recent-heavy activity over the last month, never before the person joined.
            idle = dt.timedelta(hours=min(720.0, rng.expovariate(1 / 60)))
            active = max(joined, now - idle)
            shown = int(rng.expovariate(1 / 250))
            liked = int(shown * rng.betavariate(2, 7))
            listed = rng.random() < 0.97
            batch.users.append(
                (
                    user_id,
                    f"seed-{user_id.hex}@{DOMAIN}",
                    self.password_hash,
                    rng.choice(_NAMES[gender]),
                    born,
                    gender,
                    "user",
                    joined,
                    joined,
                )
            )
            height = int(rng.gauss(178 if gender == "man" else 166, 7)) if rng.random() < 0.7 else None
            batch.profiles.append((uuid.uuid4(), user_id, rng.choice(_BIOS), orientation, goal, topics, height, joined))
            batch.preferences.append(
                (uuid.uuid4(), user_id, min_age, max_age, radius, list(wants), wants_goals, joined)
            )
            batch.locations.append((uuid.uuid4(), user_id, cell.lat, cell.lng, joined))
            # A few are waiting for a moderator's review, so they are in the index but not listed.
            state = "approved" if listed else "pending_review"
            batch.photos.append(
                (
                    uuid.uuid4(),
                    user_id,
                    state,
                    0,
                    "jpeg",
                    PHOTO["width"],
                    PHOTO["height"],
                    PHOTO["blurhash"],
                    joined,
                    joined,
                )
            )
            batch.candidates.append(
                (
                    user_id,
                    region,
                    area,
                    cell.lat,
                    cell.lng,
                    candidates.GENDER_BITS[gender],
                    born,
                    candidates.bits(wants, candidates.GENDER_BITS),  # type: ignore[arg-type]
                    min_age,
                    max_age,
                    radius,
                    candidates.GOAL_BITS.get(goal, 0),
                    candidates.bits(wants_goals, candidates.GOAL_BITS),  # type: ignore[arg-type]
                    topics,
                    listed,
                    True,
                    joined,
                    active,
                )
            )
            batch.exposures.append((user_id, shown, liked))
        return batch


#: what seeding writes to, and what a purge deletes from (the account's cascade reaches the rest)
_SEEDED_TABLES = ("users", "profiles", "preferences", "locations", "photos", "matching_candidates", "matching_exposure")
_PURGED_TABLES = (*_SEEDED_TABLES, "swipes", "matches", "auth_sessions", "refresh_tokens")


async def count_seeded(connection: asyncpg.Connection) -> int:
    """How many seeded people there are (by their address, so half-written runs count too)."""
    return int(await connection.fetchval("SELECT count(*) FROM users WHERE email LIKE $1", EMAIL_LIKE))


async def seed(connection: asyncpg.Connection, count: int, grid_km: float, password_hash: str) -> dict[str, Any]:
    """Write ``count`` more seeded people, then refresh the planner's statistics and the visibility map (which
    the deck's index-only scans need)."""
    started = time.perf_counter()
    population = Population(grid_km, dt.datetime.now(dt.UTC), password_hash)
    written = 0
    while written < count:
        batch = population.batch(min(BATCH, count - written))
        async with connection.transaction():
            # Seeded rows are made again at will: losing the last commits to a crash costs nothing.
            await connection.execute("SET LOCAL synchronous_commit = off")
            for table, columns, rows in batch.tables():
                await connection.copy_records_to_table(table, records=rows, columns=columns)
        written += len(batch.users)
    copied = time.perf_counter() - started
    await vacuum(connection, _SEEDED_TABLES)
    return {"people": written, "copySeconds": copied, "seconds": time.perf_counter() - started}


async def vacuum(connection: asyncpg.Connection, tables: tuple[str, ...]) -> None:
    # Also marks the new pages all-visible, which the deck's index-only scans need.
    await connection.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")


async def purge(connection: asyncpg.Connection, service: AuthService) -> dict[str, Any]:
    """Delete every seeded person with everything that hangs off their account, in batches, then vacuum."""
    started = time.perf_counter()
    purged = await delete_people(connection, service, EMAIL_LIKE)
    deleted = time.perf_counter() - started
    await vacuum(connection, _PURGED_TABLES)
    return {"people": purged, "deleteSeconds": deleted, "seconds": time.perf_counter() - started}


async def delete_people(connection: asyncpg.Connection, service: AuthService, email_like: str) -> int:
    """Delete the bench people whose email is like ``email_like``, in batches; how many went. Their logins end
    first, as any ended login does, so a bench token still held stops working at once."""
    purged, last = 0, uuid.UUID(int=0)
    while True:
        ids = [
            row["id"]
            for row in await connection.fetch(
                "SELECT id FROM users WHERE id > $1 AND email LIKE $2 ORDER BY id LIMIT $3", last, email_like, BATCH
            )
        ]
        if not ids:
            return purged
        last = ids[-1]
        logins = await connection.fetch(
            'SELECT id FROM auth_sessions WHERE "user" = ANY($1::uuid[]) AND revoked_at IS NULL', ids
        )
        if logins:
            await service.revoke([row["id"] for row in logins])
        # Everything of theirs (profile, place, photos, index row, swipes, matches, messages) goes with the account.
        await connection.execute("DELETE FROM users WHERE id = ANY($1::uuid[])", ids)
        await _drop_cached(service.valkey, ids)
        purged += len(ids)


async def _drop_cached(valkey: Valkey, ids: list[uuid.UUID]) -> None:
    """What the domains cache of these people (profile cards, photo lists, kept decks)."""
    keys = [key for user_id in ids for domain in registry.domains() for key in domain.cache_keys(user_id)]
    for chunk in range(0, len(keys), 10_000):
        await valkey.unlink(*keys[chunk : chunk + 10_000])
