"""A suspended or banned person's profile is hidden from everyone, as their statement of reasons tells them."""

from __future__ import annotations

import datetime as dt

import httpx
from litestar import Litestar

from tests.factories import register
from tests.integration.chat.stored import assert_problem
from tests.integration.matching.crowd import headers, ids
from tests.integration.moderation.staff import staff


async def test_a_suspended_persons_profile_is_not_shown(app: Litestar, client: httpx.AsyncClient) -> None:
    person, viewer, moderator = await register(client), await register(client), await staff(client, app.state.db)
    assert (await client.get(f"/api/users/{ids(person)}", headers=headers(viewer))).status_code == 200

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    acted = await client.post(
        f"/api/admin/users/{ids(person)}/actions",
        json={"action": "suspend", "rule": "scam", "until": until},
        headers=headers(moderator),
    )
    assert acted.status_code == 200, acted.text

    assert_problem(await client.get(f"/api/users/{ids(person)}", headers=headers(viewer)), 404)
