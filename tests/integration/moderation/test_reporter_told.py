"""A reporter is told their report was decided and whether we acted (EU DSA Art. 16(5)) — never how — and that a
dismissal may be appealed; reports closed along with a restriction tell their reporters too."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.integration.chat.talk import pairs
from tests.integration.matching.crowd import headers, ids
from tests.integration.moderation.staff import staff
from tests.integration.safety.test_reports import claimed, decide, queued


async def _told(client: httpx.AsyncClient, person: dict[str, Any]) -> list[dict[str, Any]]:
    listed = await client.get("/api/notifications", headers=headers(person))
    assert listed.status_code == 200, listed.text
    # What the notification says, without the fields other kinds fill.
    return [
        {key: value for key, value in item["data"].items() if value is not None}
        for item in listed.json()["items"]
        if item["kind"] == "moderation"
    ]


async def _report(client: httpx.AsyncClient, reporter: dict[str, Any], about: dict[str, Any]) -> str:
    filed = await client.post(
        "/api/safety/reports",
        json={"userId": ids(about), "reason": "harassment", "block": False},
        headers=headers(reporter),
    )
    assert filed.status_code == 201, filed.text
    return str(filed.json()["id"])


async def test_reporters_are_told_the_outcome_and_nothing_of_the_measure(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(first, person, _), (second, _, _), (third, innocent, _)] = await pairs(app, client, 3)
    acted_on, closed_with_it, dismissed = (
        await _report(client, first, person),
        await _report(client, second, person),
        await _report(client, third, innocent),
    )
    moderator = await staff(client, app.state.db)
    for report_id, body in (
        (acted_on, {"decision": "restrict", "rule": "harassment"}),
        (dismissed, {"decision": "dismiss", "rule": "harassment"}),
    ):
        await claimed(client, moderator, str((await queued(app, report_id))["id"]))
        assert (await decide(client, moderator, report_id, **body)).status_code == 200

    assert await _told(client, first) == [{"reportId": acted_on, "outcome": "actioned", "appealable": False}]
    assert await _told(client, second) == [{"reportId": closed_with_it, "outcome": "actioned", "appealable": False}]
    assert await _told(client, third) == [{"reportId": dismissed, "outcome": "dismissed", "appealable": True}]
    # The person acted on gets their statement of reasons, not the reporters' news.
    [statement] = await _told(client, person)
    assert set(statement) == {"strikeId"}
