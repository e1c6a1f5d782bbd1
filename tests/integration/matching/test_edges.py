"""Edges of discovery found by attacking it: a kept deck against changes since, promoted staff, the day's
likes across a time-zone switch, paging with Valkey away or past the served cap, the end of a deck, and
preferences applied to the very next deck."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from litestar import Litestar
from valkey.asyncio import Valkey

from server.app import profile_service
from server.errors import Unavailable
from server.matching.deck import DeckService
from server.web.pagination import Cursors, PageRequest
from tests.factories import manage, run_jobs
from tests.integration.matching.crowd import (
    DECK,
    card_ids,
    crowd_in_one_cell,
    deck_page,
    headers,
    ids,
    listed_neighbours,
    swipe,
    whole_deck,
)
from tests.integration.matching.test_swipes import ACCRA, three_likes_a_day  # noqa: F401 - a fixture
from tests.services import free_port


async def test_a_kept_deck_drops_someone_who_has_since_become_a_gender_the_seeker_does_not_want(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, *women = await listed_neighbours(app, client, valkey, 5, gender="woman")
    only_women = {"minAge": 18, "maxAge": 100, "maxDistanceKm": 50, "preferredGenders": ["woman"]}
    response = await client.put("/api/users/preferences", json=only_women, headers=headers(me))
    assert response.status_code == 200, response.text
    await run_jobs(valkey, app.state.db)

    first = await deck_page(client, me, limit=1)
    assert first.status_code == 200 and first.json()["nextCursor"], first.text
    later = [ids(w) for w in women if ids(w) not in card_ids(first.json()["items"])]
    changed = next(w for w in women if ids(w) == later[0])
    response = await client.put("/api/users/profile", json={"gender": "man"}, headers=headers(changed))
    assert response.status_code == 200, response.text
    await run_jobs(valkey, app.state.db)

    rest = card_ids(await whole_deck(client, me, limit=1, cursor=first.json()["nextCursor"]))
    # The kept deck is checked again per page, but that check asks only whether *they* want the seeker's
    # gender, never whether the seeker wants theirs.
    assert ids(changed) not in rest, "a page of the kept deck showed someone of a gender the seeker does not want"
    assert sorted(rest) == sorted(later[1:])


async def test_someone_promoted_to_moderator_is_in_no_deck_and_cannot_be_swiped(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, staff, other = await listed_neighbours(app, client, valkey, 3)
    assert ids(staff) in card_ids(await whole_deck(client, me, limit=10))
    promoted = manage("set-role", staff["user"]["email"], "moderator")
    assert promoted.returncode == 0, promoted.stderr
    await run_jobs(valkey, app.state.db)

    # A new deck (the served ones are left out of new decks for an hour, so look from someone who saw none).
    assert ids(staff) not in card_ids(await whole_deck(client, other, limit=10)), "a moderator is in a deck"
    assert (await swipe(client, other, staff)).status_code == 404


def _etc_zone(offset_hours: int) -> str:
    """The tz database's fixed-offset zone for UTC+offset (its names carry the opposite sign)."""
    return "Etc/GMT" if offset_hours == 0 else f"Etc/GMT{'-' if offset_hours > 0 else '+'}{abs(offset_hours)}"


def _zones_for(now: dt.datetime) -> tuple[str, str]:
    """A zone whose day began hours ago and is far from its end, and one whose day began 30 to 90 minutes ago."""
    long_begun = next(_etc_zone(h) for h in range(-12, 15) if 4 <= (now + dt.timedelta(hours=h)).hour <= 20)
    just_begun = next(
        _etc_zone(h)
        for h in range(-12, 15)
        if dt.timedelta(minutes=30)
        <= (now + dt.timedelta(hours=h))
        - (now + dt.timedelta(hours=h)).replace(hour=0, minute=0, second=0, microsecond=0)
        < dt.timedelta(minutes=90)
    )
    return long_begun, just_begun


@pytest.mark.usefixtures("three_likes_a_day")
async def test_changing_time_zone_mid_day_does_not_hand_back_the_days_likes(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, *others = await listed_neighbours(app, client, valkey, 5, near=ACCRA)
    long_begun, just_begun = _zones_for(dt.datetime.now(dt.UTC))
    response = await client.put("/api/users/profile", json={"timeZone": long_begun}, headers=headers(me))
    assert response.status_code == 200, response.text
    for target in others[:3]:
        assert (await swipe(client, me, target)).status_code == 200
    # The three likes were sent two hours ago: still today in the person's zone, so the fourth is refused.
    await app.state.db.pool.execute(
        "UPDATE swipes SET created_at = created_at - interval '2 hours' WHERE swiper = $1", uuid.UUID(ids(me))
    )
    assert (await swipe(client, me, others[3])).status_code == 429

    # Naming a zone whose midnight has just passed must not start a second "day" within the same real day:
    # otherwise a script switching zones every hour gets the daily limit about 24 times a day.
    response = await client.put("/api/users/profile", json={"timeZone": just_begun}, headers=headers(me))
    assert response.status_code == 200, response.text
    again = await swipe(client, me, others[3])
    assert again.status_code == 429, f"switching the time zone gave back the day's likes: {again.status_code}"


async def test_paging_on_while_valkey_is_unreachable_never_repeats_a_card(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, *_ = await listed_neighbours(app, client, valkey, 7)
    first = await deck_page(client, me, limit=2)
    assert first.status_code == 200 and first.json()["nextCursor"], first.text
    on_first = card_ids(first.json()["items"])

    # The next page is asked while Valkey does not answer (a restart, a network blip): a real client on a
    # port nobody listens on, handed to the deck service exactly as the app builds it.
    away = Valkey(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    try:
        decks = DeckService(app.state.db, away, profile_service(app.state), app.state.settings.config.matching)
        cursors = Cursors.from_settings(app.state.settings)
        scope = f"{ids(me)}\n{DECK}"
        after = cursors.decode(scope, first.json()["nextCursor"])
        try:
            second = await decks.page(
                uuid.UUID(ids(me)), PageRequest(limit=2, after=after, cursors=cursors, scope=scope)
            )
        except Unavailable:
            return  # refusing the page for now is fine; serving the first page again is not
    finally:
        await away.aclose()
    repeated = set(on_first) & {str(card.id) for card in second.items}
    assert not repeated, "with Valkey away, the second page served the first page's cards again"


async def test_a_deck_that_fits_on_one_page_ends_with_a_null_cursor(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, *others = await listed_neighbours(app, client, valkey, 4)
    page = await deck_page(client, me, limit=10)
    assert page.status_code == 200, page.text
    assert sorted(card_ids(page.json()["items"])) == sorted(ids(o) for o in others)
    # api.md: "nextCursor null at the end". Three people and room for ten: this page is the end.
    assert page.json()["nextCursor"] is None, "a complete deck still sent a cursor to an empty page"


async def test_new_preferences_apply_to_the_very_next_deck(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, *_ = await listed_neighbours(app, client, valkey, 4)  # all nonbinary, all wanting everyone
    only_men = {"preferredGenders": ["man"]}
    response = await client.put("/api/users/preferences", json=only_men, headers=headers(me))
    assert response.status_code == 200, response.text
    # The app saves the filter and goes straight back to the deck; the worker has not run yet.
    response = await deck_page(client, me, limit=10)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == [], "the deck ignored the preferences the caller had just saved"


async def test_paging_past_a_thousand_unswiped_cards_never_repeats_one(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    me, *others = await crowd_in_one_cell(app, 1101)
    seen: list[str] = []
    cursor = None
    # Someone who only looks (no swipes) through everyone around them: 11 full pages, then the end.
    for _ in range(len(others) // 100 + 2):
        response = await deck_page(client, me, limit=100, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        seen += card_ids(response.json()["items"])
        cursor = response.json()["nextCursor"]
        if cursor is None:
            break
    # Only the newest 1000 served people are remembered, so the 1001st card on brings back the first ones.
    assert len(seen) == len(set(seen)), f"{len(seen) - len(set(seen))} cards came back on later pages"
    assert cursor is None, "the deck never ended"
