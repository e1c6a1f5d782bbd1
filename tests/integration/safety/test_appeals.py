"""Appeals: once per decision, within six months, decided by another moderator; upheld, the measure lifts."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
from litestar import Litestar
from valkey.asyncio import Valkey

from tests.factories import PASSWORD, bearer, register, run_jobs
from tests.integration.chat.stored import assert_invalid, assert_problem
from tests.integration.chat.talk import pairs
from tests.integration.matching.crowd import headers
from tests.integration.moderation.staff import staff
from tests.integration.safety.test_reports import claimed, decide, queued, report
from tests.services import Stack

APPEALS = "/api/safety/appeals"


async def struck(
    app: Litestar, client: httpx.AsyncClient, reported: dict[str, Any], decision: str, **more: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A report about ``reported`` decided by a new moderator: (moderator, reporter, the decision's answer)."""
    [(reporter, _, _)] = await pairs(app, client)
    filed = await report(client, reporter, {"userId": reported["user"]["id"], "reason": "spam", "block": False})
    moderator = await staff(client, app.state.db)
    await claimed(client, moderator, str((await queued(app, filed.json()["id"]))["id"]))
    decided = await decide(client, moderator, filed.json()["id"], decision=decision, rule="spam", **more)
    assert decided.status_code == 200, decided.text
    return moderator, reporter, decided.json() | {"reportId": filed.json()["id"]}


async def test_a_suspended_person_appeals_by_the_emailed_code_and_an_upheld_appeal_lets_them_back_in(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    person = await register(client)
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    await struck(app, client, person, "suspend", until=until)
    login = {"email": person["user"]["email"], "password": PASSWORD}
    assert_problem(await client.post("/api/auth/login", json=login), 403)
    await run_jobs(valkey, app.state.db)
    [mail] = [m for m in stack.mailbox.to(person["user"]["email"]) if "decision" in m["Subject"]]
    found = re.search(r"Appeal code: (\S+)", str(mail.get_content()))
    assert found, mail.get_content()

    forged = await client.post(f"{APPEALS}/by-code", json={"code": found.group(1)[:-2] + "xx", "text": "Not me."})
    assert_invalid(forged, "code")
    appealed = await client.post(f"{APPEALS}/by-code", json={"code": found.group(1), "text": "It was not spam."})
    assert appealed.status_code == 201, appealed.text
    item = str((await queued(app, appealed.json()["id"]))["id"])
    other = await staff(client, app.state.db)
    await claimed(client, other, item)
    upheld = await client.post(
        f"/api/admin/appeals/{appealed.json()['id']}/decision",
        json={"decision": "uphold"},
        headers=bearer(other["accessToken"]),
    )
    assert upheld.status_code == 200, upheld.text
    assert (await client.post("/api/auth/login", json=login)).status_code == 200, "the suspension is lifted"


async def test_an_appeal_is_decided_once_by_a_moderator_who_did_not_decide(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    person = await register(client)
    restricting, _, decided = await struck(app, client, person, "restrict")
    appealed = await client.post(
        APPEALS, json={"strikeId": decided["strikeId"], "text": "My photos are me."}, headers=headers(person)
    )
    assert appealed.status_code == 201, appealed.text
    again = await client.post(
        APPEALS, json={"strikeId": decided["strikeId"], "text": "Again."}, headers=headers(person)
    )
    assert_problem(again, 409)
    appeal_id = appealed.json()["id"]
    item = str((await queued(app, appeal_id))["id"])

    await claimed(client, restricting, item)
    own = await client.post(
        f"/api/admin/appeals/{appeal_id}/decision",
        json={"decision": "uphold"},
        headers=bearer(restricting["accessToken"]),
    )
    assert_problem(own, 403)
    await client.post(f"/api/admin/queue/{item}/release", headers=bearer(restricting["accessToken"]))

    other = await staff(client, app.state.db)
    await claimed(client, other, item)
    upheld = await client.post(
        f"/api/admin/appeals/{appeal_id}/decision",
        json={"decision": "uphold", "note": "They are who they say."},
        headers=bearer(other["accessToken"]),
    )
    assert upheld.status_code == 200 and upheld.json()["state"] == "upheld", upheld.text

    [listed] = (await client.get("/api/safety/decisions", headers=headers(person))).json()
    assert listed["overturnedAt"] is not None and listed["appeal"]["state"] == "upheld"
    assert listed["statement"]["rule"] and listed["statement"]["appeal"]


async def test_the_reporter_may_appeal_a_dismissal_and_an_upheld_one_reopens_the_report(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    person = await register(client)
    _, reporter, decided = await struck(app, client, person, "dismiss")
    appealed = await client.post(
        APPEALS, json={"reportId": decided["reportId"], "text": "Look again."}, headers=headers(reporter)
    )
    assert appealed.status_code == 201, appealed.text
    assert_problem(
        await client.post(APPEALS, json={"reportId": decided["reportId"], "text": "x"}, headers=headers(person)), 404
    )
    other = await staff(client, app.state.db)
    await claimed(client, other, str((await queued(app, appealed.json()["id"]))["id"]))
    upheld = await client.post(
        f"/api/admin/appeals/{appealed.json()['id']}/decision",
        json={"decision": "uphold"},
        headers=bearer(other["accessToken"]),
    )
    assert upheld.status_code == 200, upheld.text
    assert (await queued(app, decided["reportId"]))["state"] == "open"

    # Dismissed again, it is a new decision: appealed once more, and once only.
    again = {"reportId": decided["reportId"], "text": "Still wrong."}
    assert_problem(await client.post(APPEALS, json=again, headers=headers(reporter)), 404)  # open, nothing to appeal
    third = await staff(client, app.state.db)
    await claimed(client, third, str((await queued(app, decided["reportId"]))["id"]))
    redismissed = await decide(client, third, decided["reportId"], decision="dismiss", rule="spam")
    assert redismissed.status_code == 200, redismissed.text
    second = await client.post(APPEALS, json=again, headers=headers(reporter))
    assert second.status_code == 201, second.text
    assert_problem(await client.post(APPEALS, json=again, headers=headers(reporter)), 409)


async def test_bad_appeals_are_refused(app: Litestar, client: httpx.AsyncClient) -> None:
    person = await register(client)
    _, _, decided = await struck(app, client, person, "warn")
    token = headers(person)
    assert_invalid(await client.post(APPEALS, json={"text": "which one?"}, headers=token), "strikeId")
    assert_invalid(
        await client.post(APPEALS, json={"strikeId": decided["strikeId"], "text": ""}, headers=token), "text"
    )
    stranger = await register(client)
    assert_problem(
        await client.post(APPEALS, json={"strikeId": decided["strikeId"], "text": "mine?"}, headers=headers(stranger)),
        404,
    )
    await app.state.db.pool.execute(
        "UPDATE moderation_strikes SET created_at = now() - interval '200 days' WHERE id = $1", decided["strikeId"]
    )
    late = await client.post(APPEALS, json={"strikeId": decided["strikeId"], "text": "late"}, headers=token)
    assert_problem(late, 403)
