"""The deck holds exactly the people the contract's rule admits: both people want each other (gender, age,
relationship goal), the shown distance is within both radiuses, the other person is listed, the seeker has not
swiped them and they have not passed on the seeker. Checked over randomized crowds around one city, paging
through each deck to its end, against the rule worked out here."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import httpx
import pytest
from litestar import Litestar
from valkey.asyncio import Valkey

from server.auth.accounts import age_on
from server.profiles import geo
from tests.factories import people_in_postgres, run_jobs, with_approved_photo
from tests.integration.matching.crowd import (
    BERLIN,
    Member,
    belongs_in_deck,
    card_ids,
    set_up,
    swipe,
    wanted_by,
    whole_deck,
)
from tests.integration.profiles.test_location import moved
from tests.services import Stack

GENDERS = ["woman", "man", "nonbinary"]
GOALS = ["long-term", "short-term", "friendship", "not-sure"]
INTERESTS = ["hiking", "coffee", "books", "cooking", "cycling", "film", "dogs", "gaming"]
PEOPLE = 48
SEEKERS = 6
#: small pages, so every deck takes several
PAGE = 3


def _born(rng: random.Random, age: int, today: dt.date) -> dt.date:
    """A birth date giving ``age`` today, with no birthday within a few days of today (where "today" could be
    read in another time zone)."""
    anniversary = today.replace(year=today.year - age)
    return anniversary - dt.timedelta(days=rng.randint(4, 360))


def _crowd(rng: random.Random, today: dt.date, grid_km: float) -> list[dict[str, Any]]:
    """Who each person is, where and what they want: broad enough that decks run to several pages, with
    radiuses and age bounds often set exactly at (or one past) another person's distance or age, so the
    rule's edges are met, not just its middle."""
    people: list[dict[str, Any]] = []
    for _ in range(PEOPLE):
        km = rng.uniform(0, 12) if rng.random() < 0.7 else rng.uniform(12, 80)
        place = None if rng.random() < 0.06 else moved(*BERLIN, km, rng.uniform(0, 360))
        people.append(
            {
                "gender": rng.choice(GENDERS),
                "age": rng.randint(22, 45),
                "goal": rng.choice([None, None, *GOALS]),
                "interests": rng.sample(INTERESTS, rng.randint(0, 4)),
                "place": place,
                "listed": rng.random() > 0.1,
            }
        )
    placed = [p for p in people if p["place"]]
    for person in people:
        person["born"] = _born(rng, person["age"], today)
        if rng.random() < 0.12:
            person["preferences"] = None  # never edited: the defaults stand
            continue
        other = rng.choice(placed)
        here: tuple[float, float] | None = person["place"]
        if here is not None and rng.random() < 0.5:
            there: tuple[float, float] = other["place"]
            edge = geo.shown_km(geo.snap_to_grid(*here, grid_km), geo.snap_to_grid(*there, grid_km))
            reach = max(1, edge + rng.choice([-1, 0, 0, 1]))
        else:
            reach = rng.choice([rng.randint(5, 30), rng.randint(30, 100), 500])
        low = other["age"] + rng.choice([0, 1]) if rng.random() < 0.2 else rng.randint(18, 26)
        high = max(low, other["age"] - rng.choice([0, 1]) if rng.random() < 0.2 else rng.randint(38, 70))
        person["preferences"] = {
            "minAge": low,
            "maxAge": high,
            "maxDistanceKm": reach,
            "preferredGenders": rng.sample(GENDERS, rng.choice([2, 3, 3, 3])),
            "relationshipGoals": rng.sample(GOALS, rng.choice([0, 0, 0, 1, 2, 3])),
        }
    return people


async def _members(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, rng: random.Random, grid_km: float
) -> list[Member]:
    today = dt.date.today()
    crowd = _crowd(rng, today, grid_km)
    answers = await people_in_postgres(
        app, *[{"gender": p["gender"], "dateOfBirth": p["born"], "firstName": "Sam"} for p in crowd]
    )
    members = [
        Member(
            answer=answer,
            gender=p["gender"],
            born=p["born"],
            goal=p["goal"],
            interests=p["interests"],
            preferences=p["preferences"],
            place=p["place"],
            listed=p["listed"],
        )
        for answer, p in zip(answers, crowd, strict=True)
    ]
    for member in members:
        await set_up(client, member)
    await with_approved_photo(app.state.db, *[m.id for m in members if m.listed])
    await run_jobs(valkey, app.state.db)
    return members


async def _some_swipes(
    client: httpx.AsyncClient, rng: random.Random, members: list[Member], seekers: list[Member], today: dt.date
) -> dict[tuple[str, str], str]:
    """Seekers like or pass some of the people they want; some people like or pass the seekers."""
    swipes: dict[tuple[str, str], str] = {}
    listed = [m for m in members if m.listed and m.place is not None]
    for seeker in seekers:
        liked_ones = [m for m in listed if m.id != seeker.id and wanted_by(seeker, m, today)]
        for target in rng.sample(liked_ones, min(2, len(liked_ones))):
            swipes[seeker.id, target.id] = rng.choice(["like", "pass"])
        if seeker in listed:
            # Only people in discovery (a place shared) can swipe.
            placed = [m for m in members if m.id != seeker.id and m.place is not None]
            for fan in rng.sample(placed, 4):
                swipes[fan.id, seeker.id] = rng.choice(["like", "pass", "pass"])
    by_id = {m.id: m for m in members}
    for (swiper_id, target_id), action in swipes.items():
        response = await swipe(client, by_id[swiper_id], by_id[target_id], action)
        assert response.status_code == 200, response.text
    return swipes


@pytest.mark.parametrize("seed", [20261123, 7, 4242])
async def test_every_deck_is_exactly_the_people_the_rule_admits(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack, seed: int
) -> None:
    rng = random.Random(seed)
    grid_km = stack.settings.config.location.grid_km
    today = dt.date.today()
    members = await _members(app, client, valkey, rng, grid_km)
    placed = [m for m in members if m.place is not None]
    # A seeker without an approved photo still browses: the rule asks nothing of the seeker's own photos.
    seekers = rng.sample([m for m in placed if m.listed], SEEKERS - 1) + [m for m in placed if not m.listed][:1]
    swipes = await _some_swipes(client, rng, members, seekers, today)
    by_id = {m.id: m for m in members}

    sizes = []
    for seeker in seekers:
        cards = await whole_deck(client, seeker, limit=PAGE)
        seen = card_ids(cards)
        assert len(seen) == len(set(seen)), f"a card came twice in {seeker.id}'s deck"
        expected = {m.id for m in members if belongs_in_deck(seeker, m, swipes, grid_km, today)}
        unexpected = [by_id[i] for i in set(seen) - expected]
        missing = [by_id[i] for i in expected - set(seen)]
        assert not unexpected and not missing, (
            f"seed {seed}, seeker {seeker}: shown but excluded by the rule {unexpected}; "
            f"admitted by the rule but never shown {missing}"
        )
        mine = seeker.cell(grid_km)
        for card in cards:
            other = by_id[card["id"]]
            theirs = other.cell(grid_km)
            assert mine is not None and theirs is not None
            assert card["distanceKm"] == geo.shown_km(mine, theirs), card
            assert sorted(card["sharedInterests"]) == sorted(set(seeker.interests) & set(other.interests)), card
            assert card["age"] == age_on(other.born, today)
            assert (card["gender"], card["relationshipGoal"], card["interests"]) == (
                other.gender,
                other.goal,
                other.interests,
            )
            assert card["firstName"] == "Sam" and len(card["photos"]) == 1
            assert "dateOfBirth" not in card and "preferences" not in card
        sizes.append(len(cards))
    # The crowd must make the property worth checking: decks of several pages, not all empty.
    assert sum(size > PAGE for size in sizes) >= 2, sizes
