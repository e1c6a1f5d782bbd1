"""What the review screens read: a waiting photo's blurhash without a reveal, a report's evidence photos revealed
through audited signed links to the frozen copies, and an appeal with the decision it is against."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from litestar import Litestar
from valkey.asyncio import Valkey

from tests.factories import bearer, people_in_postgres, run_jobs, uploaded
from tests.integration.chat.stored import assert_problem
from tests.integration.chat.talk import pairs
from tests.integration.matching.crowd import headers, ids
from tests.integration.moderation.review import audited, pre_moderated
from tests.integration.moderation.staff import staff
from tests.integration.safety.test_appeals import APPEALS, struck
from tests.services import Stack


def local(url: str) -> str:
    """A signed link as the test client asks for it: its path and query."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_a_preview_is_a_blurhash_and_no_reveal_and_a_reveal_is_audited(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack
) -> None:
    [owner] = await people_in_postgres(app, {})
    with pre_moderated(stack):
        photo = await uploaded(client, owner["accessToken"])
        await run_jobs(valkey, app.state.db)
    moderator = await staff(client, app.state.db)
    as_moderator = bearer(moderator["accessToken"])

    preview = await client.get(f"/api/admin/photos/{photo['id']}/preview", headers=as_moderator)
    assert preview.status_code == 200, preview.text
    assert preview.json()["state"] == "pending_review" and preview.json()["blurhash"]
    assert "largeUrl" not in preview.json()
    assert await audited(app.state.db, owner["user"]["id"]) == []

    revealed = await client.get(f"/api/admin/photos/{photo['id']}", headers=as_moderator)
    assert revealed.json()["largeUrl"] and revealed.json()["blurhash"] == preview.json()["blurhash"]
    assert await audited(app.state.db, owner["user"]["id"]) == [("photo.reveal", {"photo": photo["id"]})]
    assert_problem(await client.get(f"/api/admin/photos/{owner['user']['id']}/preview", headers=as_moderator), 404)


async def test_an_evidence_photo_is_revealed_from_its_copy_through_an_audited_expiring_link(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(reporter, reported, _)] = await pairs(app, client)
    photo = await uploaded(
        client, reported.answer["accessToken"] if hasattr(reported, "answer") else reported["accessToken"]
    )
    await run_jobs(valkey, app.state.db)
    filed = await client.post(
        "/api/safety/reports", json={"userId": ids(reported), "reason": "fake-profile"}, headers=headers(reporter)
    )
    assert filed.status_code == 201, filed.text
    report_id = filed.json()["id"]
    moderator = await staff(client, app.state.db)
    as_moderator = bearer(moderator["accessToken"])
    view = (await client.get(f"/api/admin/reports/{report_id}", headers=as_moderator)).json()
    [kept] = [p for p in view["evidence"]["photos"] if p["photoId"] == photo["id"]]
    assert kept["copy"] and kept["blurhash"]

    # The person deletes the photo: the copy is what a moderator sees.
    deleted = await client.delete(f"/api/users/photos/{photo['id']}", headers=headers(reported))
    assert deleted.status_code == 204, deleted.text
    shown = await client.get(f"/api/admin/reports/{report_id}/photos/{photo['id']}", headers=as_moderator)
    assert shown.status_code == 200, shown.text
    assert shown.json()["blurhash"] == kept["blurhash"]
    served = await client.get(local(shown.json()["url"]))
    assert served.status_code == 200 and served.content[:4] == b"RIFF" and served.content[8:12] == b"WEBP"
    assert served.headers["cache-control"] == "private, no-store"
    assert ("photo.reveal", {"report": report_id, "photo": photo["id"]}) in await audited(app.state.db, ids(reported))

    forged = local(shown.json()["url"]).replace("sig=", "sig=x")
    assert_problem(await client.get(forged), 403)
    unknown = await client.get(f"/api/admin/reports/{report_id}/photos/{report_id}", headers=as_moderator)
    assert_problem(unknown, 404)


async def test_an_appeal_shows_the_decision_appealed_and_whose_it_was(app: Litestar, client: httpx.AsyncClient) -> None:
    [person, other] = await people_in_postgres(app, {}, {})
    decider, _, decided = await struck(app, client, person, "warn", note="spam links in every message")
    appealed = await client.post(
        APPEALS,
        json={"strikeId": decided["strikeId"], "text": "They were my own links."},
        headers=bearer(person["accessToken"]),
    )
    assert appealed.status_code == 201, appealed.text
    path = f"/api/admin/appeals/{appealed.json()['id']}"

    mine = (await client.get(path, headers=bearer(decider["accessToken"]))).json()
    assert (mine["appellant"], mine["text"], mine["reportId"]) == (
        "affected",
        "They were my own links.",
        decided["reportId"],
    )
    assert {key: mine["decision"][key] for key in ("measure", "rule", "note", "byYou")} == {
        "measure": "warn",
        "rule": "spam",
        "note": "spam links in every message",
        "byYou": True,
    }
    another = await staff(client, app.state.db)
    assert (await client.get(path, headers=bearer(another["accessToken"]))).json()["decision"]["byYou"] is False

    _, reporter, dismissed = await struck(app, client, other, "dismiss")
    by_reporter = await client.post(
        APPEALS, json={"reportId": dismissed["reportId"], "text": "Look again."}, headers=headers(reporter)
    )
    assert by_reporter.status_code == 201, by_reporter.text
    seen = (
        await client.get(f"/api/admin/appeals/{by_reporter.json()['id']}", headers=bearer(another["accessToken"]))
    ).json()
    assert (seen["appellant"], seen["decision"]["measure"], seen["reportId"]) == (
        "reporter",
        "dismiss",
        dismissed["reportId"],
    )
    assert_problem(
        await client.get(f"/api/admin/appeals/{dismissed['reportId']}", headers=bearer(another["accessToken"])), 404
    )
