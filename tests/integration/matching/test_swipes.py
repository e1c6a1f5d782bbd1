"""Swipes: final, counted once, refused (with nothing written) when they make no sense, and limited per day."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey

from server import settings as settings_module
from tests.factories import PASSWORD, bearer, fields, people_in_postgres, register, run_jobs, with_approved_photo
from tests.integration.matching.crowd import count, headers, ids, listed_neighbours, neighbours, swipe
from tests.services import Stack

#: Accra keeps UTC all year and sits on the prime meridian: its day is UTC's day however the server decides a
#: person's time zone (their setting, their place or its longitude)
ACCRA = (5.6037, -0.1870)


async def _match_events(app: Litestar) -> list[dict[str, Any]]:
    rows = await app.state.db.pool.fetch("SELECT payload FROM job_outbox WHERE kind = 'matching.match_created'")
    return [json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"] for r in rows]


async def test_a_repeated_swipe_answers_the_same_and_is_recorded_once(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    me, you, third = await listed_neighbours(app, client, valkey, 3)
    first, again = await swipe(client, me, you), await swipe(client, me, you)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == {"matched": False, "match": None}

    made = await swipe(client, you, me, "superlike")
    repeated = await swipe(client, you, me, "superlike")
    assert made.status_code == repeated.status_code == 200
    assert made.json()["matched"] is True and made.json() == repeated.json()
    assert await count(app, "matches") == 1 and len(await _match_events(app)) == 2

    for _ in range(3):
        assert (await swipe(client, me, third, "pass")).json() == {"matched": False, "match": None}
    rows = await app.state.db.pool.fetch("SELECT swiper::text, target::text, action FROM swipes ORDER BY action")
    assert sorted((r["swiper"], r["target"], r["action"]) for r in rows) == sorted(
        [(ids(me), ids(you), "like"), (ids(you), ids(me), "superlike"), (ids(me), ids(third), "pass")]
    )


@pytest.mark.parametrize(("before", "after"), [("like", "pass"), ("like", "superlike"), ("pass", "like")])
async def test_changing_a_swipe_is_a_409_and_the_first_stands(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, before: str, after: str
) -> None:
    me, you = await listed_neighbours(app, client, valkey, 2)
    assert (await swipe(client, me, you, before)).status_code == 200
    changed = await swipe(client, me, you, after)
    assert changed.status_code == 409, changed.text
    assert changed.headers["content-type"].startswith("application/problem+json")
    assert await app.state.db.pool.fetchval("SELECT array_agg(action) FROM swipes") == [before]


async def test_swiping_someone_who_is_not_discoverable_is_a_404_and_writes_nothing(
    app: Litestar, client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey
) -> None:
    me, listed = await neighbours(app, client, 2)
    no_photo, no_place = await people_in_postgres(app, {}, {})
    erased = await register(client)
    for placed in (no_photo, erased):
        response = await client.put("/api/users/location", json={"lat": 52.52, "lng": 13.405}, headers=headers(placed))
        assert response.status_code == 204
    await with_approved_photo(db, ids(no_place), ids(erased))
    await run_jobs(valkey, db)
    assert (await swipe(client, me, erased)).status_code == 200  # discoverable until erased
    gone = await client.request(
        "DELETE", "/api/users/profile", json={"password": PASSWORD}, headers=bearer(erased["accessToken"])
    )
    assert gone.status_code == 204
    await run_jobs(valkey, db)
    before = await count(app, "swipes")

    for target in (me, str(uuid.uuid4()), erased, no_photo, no_place):
        for action in ("like", "pass", "superlike"):
            response = await swipe(client, me, target, action)
            assert response.status_code == 404, (target, action, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
    assert await count(app, "swipes") == before
    assert (await swipe(client, me, listed)).status_code == 200  # the refusals used up no likes


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"userId": "not-a-uuid", "action": "like"}, "userId"),
        ({"userId": 42, "action": "like"}, "userId"),
        ({"userId": None, "action": "like"}, "userId"),
        ({"userId": "PLACEHOLDER", "action": "love"}, "action"),
        ({"userId": "PLACEHOLDER", "action": "LIKE"}, "action"),
        ({"userId": "PLACEHOLDER", "action": None}, "action"),
        # A field left out is named like a wrong one: the app shows the message next to that field.
        ({"action": "like"}, "userId"),
        ({"userId": "PLACEHOLDER"}, "action"),
    ],
)
async def test_a_bad_swipe_is_a_422_naming_the_field_and_writes_nothing(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, body: dict[str, Any], named: str
) -> None:
    me, you = await listed_neighbours(app, client, valkey, 2)
    sent = {key: ids(you) if value == "PLACEHOLDER" else value for key, value in body.items()}
    response = await client.post("/api/matches/swipe", json=sent, headers=bearer(me["accessToken"]))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert named in fields(response), response.json()
    assert await count(app, "swipes") == 0


@pytest.fixture
def three_likes_a_day(stack: Stack, app: Litestar, monkeypatch: pytest.MonkeyPatch) -> None:
    """harvest.toml says `[matching] likes_per_day = 3` and `superlikes_per_day = 1`, read by the one
    settings loader as an operator's edit would be; the running app is handed what it read."""
    config = stack.root / "etc/harvest/harvest.toml"
    original = config.read_text()
    config.write_text(original + "\n[matching]\nlikes_per_day = 3\nsuperlikes_per_day = 1\n")
    settings_module.current.cache_clear()
    try:
        edited = settings_module.current()
    finally:
        config.write_text(original)
        settings_module.current.cache_clear()
    assert (edited.config.matching.likes_per_day, edited.config.matching.superlikes_per_day) == (3, 1)
    monkeypatch.setattr(app.state, "settings", edited)


def _next_utc_midnight(moment: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(moment.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def _assert_refused_until_midnight(response: httpx.Response, asked_at: dt.datetime) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["remaining"] == 0 and type(body["remaining"]) is int
    resets = dt.datetime.fromisoformat(body["resetsAt"].replace("Z", "+00:00"))
    assert resets.utcoffset() is not None, body["resetsAt"]
    answered_at = dt.datetime.now(dt.UTC)
    assert resets in {_next_utc_midnight(asked_at), _next_utc_midnight(answered_at)}, body["resetsAt"]
    wait = int(response.headers["Retry-After"])
    assert (resets - answered_at).total_seconds() - 5 <= wait <= (resets - asked_at).total_seconds() + 5


async def test_daily_likes_and_superlikes_run_out_until_midnight_and_passes_never_do(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, three_likes_a_day: None
) -> None:
    me, *others = await listed_neighbours(app, client, valkey, 7, near=ACCRA)
    assert (await swipe(client, me, others[0], "superlike")).status_code == 200
    asked_at = dt.datetime.now(dt.UTC)
    _assert_refused_until_midnight(await swipe(client, me, others[1], "superlike"), asked_at)

    assert (await swipe(client, me, others[1], "like")).status_code == 200  # the refused superlike cost nothing
    assert (await swipe(client, me, others[1], "like")).status_code == 200  # a repeat is counted once
    assert (await swipe(client, me, others[2], "like")).status_code == 200  # the third like of the day
    for target, action in ((others[3], "like"), (others[3], "superlike"), (others[4], "like")):
        asked_at = dt.datetime.now(dt.UTC)
        _assert_refused_until_midnight(await swipe(client, me, target, action), asked_at)
    assert (await swipe(client, me, others[3], "pass")).status_code == 200
    assert (await swipe(client, me, others[2], "like")).status_code == 200  # repeating a counted like still answers

    rows = await app.state.db.pool.fetch(
        "SELECT target::text, action FROM swipes WHERE swiper = $1", uuid.UUID(ids(me))
    )
    assert sorted((r["target"], r["action"]) for r in rows) == sorted(
        [(ids(others[0]), "superlike"), (ids(others[1]), "like"), (ids(others[2]), "like"), (ids(others[3]), "pass")]
    )
    # The limit is each person's own: someone else still has all of theirs.
    assert (await swipe(client, others[5], me, "like")).status_code == 200
