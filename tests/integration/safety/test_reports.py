"""Reports and the decisions on them: evidence frozen when filed, the queue worked by one moderator per item,
measures that take effect at once, and the statement of reasons delivered in the app and by email."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import httpx
from litestar import Litestar
from valkey.asyncio import Valkey

from server.moderation import audit, retention
from tests.factories import PASSWORD, bearer, run_jobs
from tests.integration.chat.live import ApiWorkers, Live
from tests.integration.chat.stored import assert_invalid, assert_problem, unmatch
from tests.integration.chat.talk import pairs, send
from tests.integration.matching.crowd import headers, ids
from tests.integration.moderation.staff import staff
from tests.services import Stack

REPORTS = "/api/safety/reports"


async def report(client: httpx.AsyncClient, reporter: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    return await client.post(REPORTS, json=body, headers=headers(reporter))


async def queued(app: Litestar, report_id: str) -> dict[str, Any]:
    row = await app.state.db.pool.fetchrow(
        "SELECT id, severity, state, claimed_by FROM moderation_queue WHERE subject = $1", report_id
    )
    return dict(row)


async def claimed(client: httpx.AsyncClient, moderator: dict[str, Any], item_id: str) -> None:
    answer = await client.post(f"/api/admin/queue/{item_id}/claim", headers=bearer(moderator["accessToken"]))
    assert answer.status_code == 200, answer.text


async def decide(client: httpx.AsyncClient, moderator: dict[str, Any], report_id: str, **body: Any) -> httpx.Response:
    return await client.post(
        f"/api/admin/reports/{report_id}/decision", json=body, headers=bearer(moderator["accessToken"])
    )


async def test_a_report_keeps_its_evidence_through_an_unmatch_and_a_deleted_photo(
    app: Litestar, client: httpx.AsyncClient, stack: Stack
) -> None:
    [(reporter, reported, match_id)] = await pairs(app, client)
    said = (await send(client, reported, match_id, "r-1", content="send me money or else")).json()
    await send(client, reporter, match_id, "r-2", content="no")
    [photo] = await app.state.db.pool.fetch('SELECT id FROM photos WHERE "user" = $1', ids(reported))
    await app.state.storage.put("media", f"{photo['id']}/large.webp", b"RIFF-evidence", "image/webp")

    filed = await report(
        client,
        reporter,
        {"userId": ids(reported), "reason": "threat", "details": "see chat", "messageId": said["id"], "block": False},
    )
    assert filed.status_code == 201, filed.text
    assert filed.json()["blocked"] is False
    report_id = filed.json()["id"]
    assert (await queued(app, report_id))["severity"] == 0, "threats are worked first"

    await unmatch(client, reporter, match_id)
    await app.state.db.pool.execute("DELETE FROM photos WHERE id = $1", photo["id"])
    await app.state.storage.remove("media", [f"{photo['id']}/large.webp"])

    evidence = json.loads(
        await app.state.db.pool.fetchval("SELECT evidence FROM safety_reports WHERE id = $1", report_id)
    )
    texts = [(message["from"], message["content"]) for message in evidence["conversation"]["messages"]]
    assert texts == [("reported", "send me money or else"), ("reporter", "no")]
    [kept] = evidence["photos"]
    assert await app.state.storage.get("media", kept["copy"]) == b"RIFF-evidence"
    assert ids(reported) not in json.dumps(evidence) and ids(reporter) not in json.dumps(evidence)


async def test_reporting_blocks_unless_asked_not_to(app: Litestar, client: httpx.AsyncClient) -> None:
    [(reporter, reported, match_id)] = await pairs(app, client)
    filed = await report(client, reporter, {"userId": ids(reported), "reason": "harassment"})
    assert filed.status_code == 201 and filed.json()["blocked"] is True, filed.text
    assert_problem(await client.get(f"/api/users/{ids(reported)}", headers=headers(reporter)), 404)
    assert await app.state.db.pool.fetchval("SELECT ended_at FROM matches WHERE id = $1", match_id) is not None


async def test_reports_that_name_the_wrong_things_are_refused(app: Litestar, client: httpx.AsyncClient) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    [(third, _, third_match)] = await pairs(app, client)
    mine = (await send(client, one, match_id, "w-1")).json()
    elsewhere = (await send(client, third, third_match, "w-2")).json()

    assert_invalid(await report(client, one, {"userId": ids(one), "reason": "spam"}), "userId")
    assert_problem(await report(client, one, {"userId": "00000000-0000-4000-8000-000000000000", "reason": "spam"}), 404)
    # A message that is the reporter's own, or from another conversation, is not theirs to report.
    assert_problem(await report(client, one, {"userId": ids(other), "reason": "spam", "messageId": mine["id"]}), 404)
    assert_problem(
        await report(client, one, {"userId": ids(other), "reason": "spam", "messageId": elsewhere["id"]}), 404
    )
    assert_invalid(await report(client, one, {"userId": ids(other), "reason": "rude"}), "reason")
    assert await app.state.db.pool.fetchval("SELECT count(*) FROM safety_reports WHERE reporter = $1", ids(one)) == 0


async def test_two_moderators_asking_at_once_get_one_item_each(app: Litestar, client: httpx.AsyncClient) -> None:
    for _ in range(2):
        [(reporter, reported, _)] = await pairs(app, client)
        await report(client, reporter, {"userId": ids(reported), "reason": "minor-safety", "block": False})
    one, other = await staff(client, app.state.db), await staff(client, app.state.db)

    got = await asyncio.gather(
        *(
            client.post("/api/admin/queue/next?kind=reports", headers=bearer(moderator["accessToken"]))
            for moderator in (one, other)
        )
    )
    items = [answer.json() for answer in got]
    assert all(item and item["kind"] == "report" for item in items), items
    assert items[0]["id"] != items[1]["id"]
    assert {item["claimedBy"] for item in items} == {one["user"]["id"], other["user"]["id"]}
    taken = await client.post(f"/api/admin/queue/{items[0]['id']}/claim", headers=bearer(other["accessToken"]))
    assert_problem(taken, 409)
    async with app.state.db.pool.acquire() as connection:
        claims = [entry for entry in await audit.newest(connection, 50) if entry.action == "queue.claim"]
    assert {entry.detail["item"] for entry in claims} >= {items[0]["id"], items[1]["id"]}


async def test_a_decision_needs_the_lease_and_never_concerns_the_moderators_own_account(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    moderator = await staff(client, app.state.db)
    [(reporter, _, _)] = await pairs(app, client)
    about_moderator = await report(client, reporter, {"userId": moderator["user"]["id"], "reason": "spam"})
    report_id = about_moderator.json()["id"]
    assert_problem(await decide(client, moderator, report_id, decision="warn", rule="spam"), 409)
    await claimed(client, moderator, str((await queued(app, report_id))["id"]))
    assert_problem(await decide(client, moderator, report_id, decision="warn", rule="spam"), 403)
    user = await client.get("/api/admin/queue", headers=headers(reporter))
    assert_problem(user, 403)


async def test_a_suspension_ends_sessions_and_live_sockets_and_tells_the_person_why(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, workers: ApiWorkers, stack: Stack
) -> None:
    [(reporter, reported, _)] = await pairs(app, client)
    second = await report(client, reporter, {"userId": ids(reported), "reason": "spam", "block": False})
    filed = await report(client, reporter, {"userId": ids(reported), "reason": "harassment"})
    live = await Live.open(workers, 0, reported["accessToken"])
    moderator = await staff(client, app.state.db)
    report_id = filed.json()["id"]
    await claimed(client, moderator, str((await queued(app, report_id))["id"]))
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()

    decided = await decide(
        client, moderator, report_id, decision="suspend", rule="harassment", note="Repeated messages after a no.",
        until=until,
    )  # fmt: skip
    assert decided.status_code == 200, decided.text
    assert decided.json()["resolvedReports"] == [second.json()["id"]]
    assert await live.closed_with(timeout=5) == 4401
    assert_problem(await client.get("/api/users/profile", headers=headers(reported)), 401)

    await run_jobs(valkey, app.state.db)
    listed = await app.state.db.pool.fetchval("SELECT listed FROM matching_candidates WHERE id = $1", ids(reported))
    assert listed is False, "a suspended person is in no deck"
    [note] = await app.state.db.pool.fetch(
        "SELECT data FROM notifications WHERE user_id = $1 AND kind = 'moderation'", ids(reported)
    )
    assert json.loads(note["data"])["strikeId"] == decided.json()["strikeId"]
    [mail] = [m for m in stack.mailbox.to(reported["user"]["email"]) if "decision" in m["Subject"]]
    text = str(mail.get_content())
    for told in ("Repeated messages after a no.", "No harassment", "a moderator reviewed", "appeal", "report"):
        assert told in text, text


async def test_a_suspended_person_cannot_sign_in(app: Litestar, client: httpx.AsyncClient) -> None:
    from tests.factories import register

    reported = await register(client)
    [(reporter, _, _)] = await pairs(app, client)
    filed = await report(client, reporter, {"userId": reported["user"]["id"], "reason": "scam"})
    moderator = await staff(client, app.state.db)
    await claimed(client, moderator, str((await queued(app, filed.json()["id"]))["id"]))
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    decided = await decide(client, moderator, filed.json()["id"], decision="suspend", rule="scam", until=until)
    assert decided.status_code == 200, decided.text

    refused = await client.post("/api/auth/login", json={"email": reported["user"]["email"], "password": PASSWORD})
    body = assert_problem(refused, 403)
    assert "suspended until" in body["detail"] and "appeal" in body["detail"]
    assert_problem(await client.post("/api/auth/refresh", json={"refreshToken": reported["refreshToken"]}), 401)


async def test_a_ban_waits_for_a_second_moderator_to_be_permanent(app: Litestar, client: httpx.AsyncClient) -> None:
    [(reporter, reported, match_id)] = await pairs(app, client)
    filed = await report(client, reporter, {"userId": ids(reported), "reason": "scam", "block": False})
    banning, confirming = await staff(client, app.state.db), await staff(client, app.state.db)
    await claimed(client, banning, str((await queued(app, filed.json()["id"]))["id"]))
    decided = (await decide(client, banning, filed.json()["id"], decision="ban", rule="scam")).json()
    ended = await app.state.db.pool.fetchval("SELECT ended_at FROM matches WHERE id = $1", match_id)
    assert ended is not None, "a ban ends the person's matches"

    own = await client.post(f"/api/admin/strikes/{decided['strikeId']}/confirm", headers=bearer(banning["accessToken"]))
    assert_problem(own, 403)
    second = await client.post(
        f"/api/admin/strikes/{decided['strikeId']}/confirm", headers=bearer(confirming["accessToken"])
    )
    assert second.status_code == 204, second.text
    confirmed_by = await app.state.db.pool.fetchval(
        "SELECT confirmed_by FROM moderation_strikes WHERE id = $1", decided["strikeId"]
    )
    assert str(confirmed_by) == confirming["user"]["id"]


async def test_bad_decisions_are_refused_in_the_problem_shape(app: Litestar, client: httpx.AsyncClient) -> None:
    [(reporter, reported, _)] = await pairs(app, client)
    filed = await report(client, reporter, {"userId": ids(reported), "reason": "spam"})
    moderator = await staff(client, app.state.db)
    await claimed(client, moderator, str((await queued(app, filed.json()["id"]))["id"]))
    report_id = filed.json()["id"]
    assert_invalid(await decide(client, moderator, report_id, decision="suspend", rule="spam"), "until")
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    assert_invalid(await decide(client, moderator, report_id, decision="suspend", rule="spam", until=past), "until")
    assert_invalid(await decide(client, moderator, report_id, decision="warn", rule="rude"), "rule")
    dismissed = await decide(client, moderator, report_id, decision="dismiss", rule="spam")
    assert dismissed.status_code == 200 and dismissed.json()["strikeId"] is None
    assert_problem(await decide(client, moderator, report_id, decision="warn", rule="spam"), 404)


async def test_a_confirmed_ban_keeps_the_account_and_evidence_until_its_time_then_erases_both(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(reporter, reported, _)] = await pairs(app, client)
    [photo] = await app.state.db.pool.fetch('SELECT id FROM photos WHERE "user" = $1', ids(reported))
    await app.state.storage.put("media", f"{photo['id']}/large.webp", b"RIFF-kept", "image/webp")
    filed = await report(client, reporter, {"userId": ids(reported), "reason": "scam", "block": False})
    banning, confirming = await staff(client, app.state.db), await staff(client, app.state.db)
    await claimed(client, banning, str((await queued(app, filed.json()["id"]))["id"]))
    strike = (await decide(client, banning, filed.json()["id"], decision="ban", rule="scam")).json()["strikeId"]
    evidence = json.loads(
        await app.state.db.pool.fetchval("SELECT evidence FROM safety_reports WHERE id = $1", filed.json()["id"])
    )
    copy = evidence["photos"][0]["copy"]
    days = app.state.settings.config.moderation.ban_evidence_days
    storage, valkey = app.state.storage, app.state.valkey

    await app.state.db.pool.execute(
        "UPDATE moderation_strikes SET created_at = now() - $2 * interval '1 day' WHERE id = $1", strike, days + 1
    )
    assert await retention.erase_expired_bans(app.state.db, valkey, storage, days) == 0, "not confirmed yet"
    assert await storage.get("media", copy) == b"RIFF-kept"

    await client.post(f"/api/admin/strikes/{strike}/confirm", headers=bearer(confirming["accessToken"]))
    await app.state.db.pool.execute(
        "UPDATE moderation_strikes SET created_at = now() - $2 * interval '1 day' WHERE id = $1", strike, days + 1
    )
    assert await retention.erase_expired_bans(app.state.db, valkey, storage, days) == 1
    assert await app.state.db.pool.fetchval("SELECT count(*) FROM users WHERE id = $1", ids(reported)) == 0
    kept = json.loads(
        await app.state.db.pool.fetchval("SELECT evidence FROM safety_reports WHERE id = $1", filed.json()["id"])
    )
    assert set(kept) == {"erasedAt"}
    assert await storage.get("media", copy) is None


async def test_two_moderators_restricting_one_person_at_once_make_one_decision_not_a_deadlock(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    [(reporter, reported, _)] = await pairs(app, client)
    [(other_reporter, _, _)] = await pairs(app, client)
    filed = [
        (await report(client, who, {"userId": ids(reported), "reason": "spam", "block": False})).json()["id"]
        for who in (reporter, other_reporter)
    ]
    moderators = [await staff(client, app.state.db) for _ in filed]
    for moderator, report_id in zip(moderators, filed, strict=True):
        await claimed(client, moderator, str((await queued(app, report_id))["id"]))

    answers = await asyncio.gather(
        *(
            decide(client, moderator, report_id, decision="restrict", rule="spam")
            for moderator, report_id in zip(moderators, filed, strict=True)
        )
    )
    assert sorted(answer.status_code for answer in answers) == [200, 404], [answer.text for answer in answers]
    strikes = await app.state.db.pool.fetchval(
        "SELECT count(*) FROM moderation_strikes WHERE user_id = $1", ids(reported)
    )
    assert strikes == 1
