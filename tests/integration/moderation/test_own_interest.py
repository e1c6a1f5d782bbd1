"""A moderator never decides a matter they are part of: a report they filed is decided by another moderator, as is
their own account and an appeal of their own decision."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.factories import register
from tests.integration.chat.stored import assert_problem
from tests.integration.matching.crowd import headers, ids
from tests.integration.moderation.staff import staff
from tests.integration.safety.test_reports import claimed, decide, queued, report


async def test_a_moderator_cannot_decide_a_report_they_filed(app: Litestar, client: httpx.AsyncClient) -> None:
    moderator, other = await staff(client, app.state.db), await staff(client, app.state.db)
    reported = await register(client)
    filed = await report(client, moderator, {"userId": ids(reported), "reason": "harassment", "block": False})
    assert filed.status_code == 201, filed.text
    report_id = filed.json()["id"]
    item_id = str((await queued(app, report_id))["id"])
    await claimed(client, moderator, item_id)

    for decision in ("dismiss", "warn"):
        assert_problem(await decide(client, moderator, report_id, decision=decision, rule="harassment"), 403)
    state = await app.state.db.pool.fetchval("SELECT state FROM safety_reports WHERE id = $1::uuid", report_id)
    assert state == "open"

    released = await client.post(f"/api/admin/queue/{item_id}/release", headers=headers(moderator))
    assert released.status_code == 204, released.text
    await claimed(client, other, item_id)
    decided = await decide(client, other, report_id, decision="warn", rule="harassment")
    assert decided.status_code == 200, decided.text


async def test_a_moderator_cannot_decide_the_appeal_of_a_strike_on_their_own_report(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    reporting, deciding = await staff(client, app.state.db), await staff(client, app.state.db)
    reported = await register(client)
    filed = await report(client, reporting, {"userId": ids(reported), "reason": "spam", "block": False})
    await claimed(client, deciding, str((await queued(app, filed.json()["id"]))["id"]))
    warned = await decide(client, deciding, filed.json()["id"], decision="warn", rule="spam")
    assert warned.status_code == 200, warned.text
    appealed = await client.post(
        "/api/safety/appeals",
        json={"strikeId": warned.json()["strikeId"], "text": "It was not spam."},
        headers=headers(reported),
    )
    assert appealed.status_code == 201, appealed.text

    await claimed(client, reporting, str((await queued(app, appealed.json()["id"]))["id"]))
    refused = await client.post(
        f"/api/admin/appeals/{appealed.json()['id']}/decision", json={"decision": "uphold"}, headers=headers(reporting)
    )
    assert_problem(refused, 403)


async def test_the_moderator_who_reported_cannot_confirm_the_ban(app: Litestar, client: httpx.AsyncClient) -> None:
    reporting, banning = await staff(client, app.state.db), await staff(client, app.state.db)
    reported = await register(client)
    filed = await report(client, reporting, {"userId": ids(reported), "reason": "scam", "block": False})
    await claimed(client, banning, str((await queued(app, filed.json()["id"]))["id"]))
    banned = await decide(client, banning, filed.json()["id"], decision="ban", rule="scam")
    assert banned.status_code == 200, banned.text

    confirm = f"/api/admin/strikes/{banned.json()['strikeId']}/confirm"
    assert_problem(await client.post(confirm, headers=headers(reporting)), 403)
    confirmed_by = await app.state.db.pool.fetchval(
        "SELECT confirmed_by FROM moderation_strikes WHERE id = $1::uuid", banned.json()["strikeId"]
    )
    assert confirmed_by is None
