"""``python -m server.manage stats``: the operator's figures counted from real rows — sign-ups and logins through the
API, a match, messages, a like that made no match, a report — and the moderation backlog."""

from __future__ import annotations

import json

import httpx
from litestar import Litestar

from server.manage.stats import figures
from tests.factories import PASSWORD, manage, register
from tests.integration.chat.talk import pairs, send
from tests.integration.matching.crowd import crowd_in_one_cell, headers, ids, swipe
from tests.integration.platform.test_jobs_verbs import harvestctl
from tests.services import Stack


async def test_the_figures_count_todays_rows_and_the_backlog(
    app: Litestar, client: httpx.AsyncClient, stack: Stack
) -> None:
    one = await register(client)
    await register(client)
    # A second login the same day is the same active day.
    again = await client.post("/api/auth/login", json={"email": one["user"]["email"], "password": PASSWORD})
    assert again.status_code == 200, again.text
    [(a, b, match_id)] = await pairs(app, client)
    for n in range(3):
        await send(client, a, match_id, f"m{n}", content="hi")
    [stranger] = await crowd_in_one_cell(app, 1)
    assert (await swipe(client, a, stranger)).status_code == 200
    filed = await client.post(
        "/api/safety/reports", json={"userId": ids(b), "reason": "spam", "block": False}, headers=headers(a)
    )
    assert filed.status_code == 201, filed.text

    async with app.state.db.pool.acquire() as connection:
        shown = await figures(connection, 7)

    assert len(shown["days"]) == 7 and all(len(values) == 7 for values in shown["series"].values())
    today = {name: values[-1] for name, values in shown["series"].items()}
    # pairs() makes its people in Postgres and matches them by liking both ways: two likes, one match.
    assert today | {"matchRate": None} == {
        "signups": 5,
        "active": 2,
        "likes": 3,
        "matches": 1,
        "messages": 3,
        "reports": 1,
        "matchRate": None,
    }
    assert today["matchRate"] == round(1 / 3, 4)
    assert all(values[:-1] == [0] * 6 for name, values in shown["series"].items() if name != "matchRate")
    assert shown["users"] == {"total": 5, "dau": 2, "wau": 2, "mau": 2}
    [backlog] = shown["moderation"]
    assert (backlog["kind"], backlog["open"], backlog["overdue"]) == ("report", 1, 0)

    done = manage("stats", "--days", "3")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["series"]["messages"] == [0, 0, 3]
    refused = manage("stats", "--days", "0")
    assert refused.returncode != 0 and "--days" in refused.stderr

    table = harvestctl(stack, "stats", "--days", "7")
    assert table.returncode == 0, table.stderr
    for shown_as in ("Active users", "Match rate", "33.3%", "▁▁▁▁▁▁█", "Moderation backlog", "report"):
        assert shown_as in table.stdout, shown_as
