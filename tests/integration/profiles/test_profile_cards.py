"""Many profiles load in a bounded number of queries: a deck or conversation list shows 50 at a time."""

from __future__ import annotations

import uuid

import pytest
from litestar import Litestar
from piccolo.engine.postgres import PostgresEngine

from server.app import profile_service
from server.profiles.service import ProfileService

PAGE = 50


class QueryCount:
    """Counts the statements the engine sends to Postgres (every Piccolo query goes through these two)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        # The engine has __slots__, so its class is wrapped (and restored by monkeypatch after the test).
        for name in ("run_querystring", "run_ddl"):
            monkeypatch.setattr(PostgresEngine, name, self._counted(getattr(PostgresEngine, name)))

    def _counted(self, run):
        async def counted(*args, **kwargs):
            self.count += 1
            return await run(*args, **kwargs)

        return counted


@pytest.fixture
def queries(db: PostgresEngine, monkeypatch: pytest.MonkeyPatch) -> QueryCount:
    return QueryCount(monkeypatch)


async def _people(db: PostgresEngine, count: int) -> list[uuid.UUID]:
    """``count`` adults straight into Postgres, each with an edited profile, a place and one approved photo."""
    ids = [uuid.uuid4() for _ in range(count)]
    await db.pool.executemany(
        "INSERT INTO users (id, email, password_hash, first_name, date_of_birth, gender, created_at) "
        "VALUES ($1, $2, 'x', $3, '1990-05-01', 'woman', now())",
        [(user_id, f"p{n}@example.org", f"Person {n}") for n, user_id in enumerate(ids)],
    )
    await db.pool.executemany(
        'INSERT INTO profiles (id, "user", bio, interests, height_cm, updated_at) '
        "VALUES (gen_random_uuid(), $1, $2, '{hiking}', 170, now())",
        [(user_id, f"bio {n}") for n, user_id in enumerate(ids)],
    )
    await db.pool.executemany(
        'INSERT INTO locations (id, "user", cell_lat, cell_lng, moved_at) VALUES (gen_random_uuid(), $1, 52.37, 4.89, now())',
        [(user_id,) for user_id in ids],
    )
    await db.pool.executemany(
        'INSERT INTO photos (id, "user", state, position, source_format, processed_at, created_at) '
        "VALUES (gen_random_uuid(), $1, 'approved', 0, 'jpeg', now(), now())",
        [(user_id,) for user_id in ids],
    )
    return ids


@pytest.fixture
def profiles(app: Litestar, client) -> ProfileService:
    # `client` empties Postgres, Valkey and storage after the test
    return profile_service(app.state)


async def test_fifty_uncached_profiles_load_in_four_queries_and_then_from_the_cache(profiles, db, queries):
    viewer, *others = await _people(db, PAGE + 1)
    queries.count = 0
    cards = await profiles.public_cards(viewer, others)
    assert queries.count <= 4, f"{queries.count} queries for {PAGE} profiles"
    assert [card.id for card in cards] == others
    assert all(card.bio.startswith("bio ") and card.interests == ["hiking"] for card in cards)
    assert all(len(card.photos) == 1 and card.distance_km == 1 for card in cards)
    queries.count = 0
    assert await profiles.public_cards(viewer, others) == cards
    assert queries.count == 0


async def test_one_uncached_profile_costs_the_same_few_queries(profiles, db, queries):
    viewer, other = await _people(db, 2)
    queries.count = 0
    card = await profiles.public(viewer, other)
    assert card.first_name == "Person 1" and card.height_cm == 170
    assert queries.count <= 4


async def test_the_viewer_and_people_without_a_profile_are_left_out(profiles, db):
    viewer, other = await _people(db, 2)
    cards = await profiles.public_cards(viewer, [viewer, uuid.uuid4(), other, other])
    assert [card.id for card in cards] == [other]
