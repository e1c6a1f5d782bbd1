"""Profile verification: one pose per request, a selfie checked as photos are, a moderator's audited look at it
beside the profile photos, the badge after approval, the reason after a rejection, and nothing left on erasure."""

from __future__ import annotations

import io
from typing import Any

import httpx
from litestar import Litestar
from piccolo.engine.postgres import PostgresEngine
from PIL import Image
from valkey.asyncio import Valkey

from server.moderation.verification import POSES
from tests.factories import PASSWORD, bearer, fetch, objects, register, run_jobs, uploaded
from tests.integration.chat.stored import assert_invalid, assert_problem
from tests.integration.moderation.review import audited, claim, queue_item
from tests.integration.moderation.staff import staff
from tests.integration.photos import samples

VERIFICATION = "/api/users/verification"


async def status(client: httpx.AsyncClient, person: dict[str, Any]) -> dict[str, Any]:
    answer = await client.get(VERIFICATION, headers=bearer(person["accessToken"]))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def send_selfie(client: httpx.AsyncClient, person: dict[str, Any], data: bytes | None = None) -> httpx.Response:
    return await client.post(
        VERIFICATION,
        files={"file": ("selfie.jpg", data or samples.iphone_jpeg(1200, 900), "image/jpeg")},
        headers=bearer(person["accessToken"]),
    )


async def submitted(client: httpx.AsyncClient, person: dict[str, Any]) -> str:
    """The id of the person's request, its selfie sent."""
    await status(client, person)
    sent = await send_selfie(client, person)
    assert sent.status_code == 202, sent.text
    return str(sent.json()["request"]["id"])


async def decide(client: httpx.AsyncClient, moderator: dict[str, Any], request_id: str, **body: Any) -> httpx.Response:
    return await client.post(
        f"/api/admin/verifications/{request_id}/decision", json=body, headers=bearer(moderator["accessToken"])
    )


async def test_a_request_keeps_its_pose_until_its_selfie_is_in_and_only_one_waits(client: httpx.AsyncClient) -> None:
    person = await register(client)
    assert_problem(await send_selfie(client, person), 409)  # no pose asked for yet

    first = await status(client, person)
    assert first["isVerified"] is False and first["lastDecision"] is None
    assert first["request"]["state"] == "requested" and first["request"]["pose"] in POSES
    assert (await status(client, person))["request"] == first["request"], "asking again draws another pose"

    # Checked as photos are: a file that is no image is refused, and the request still waits for its selfie.
    assert_problem(await send_selfie(client, person, b"plain text, not a picture"), 415)
    assert (await status(client, person))["request"]["state"] == "requested"
    sent = await send_selfie(client, person)
    assert sent.status_code == 202, sent.text
    assert sent.json()["request"] == first["request"] | {"state": "open"}
    assert_problem(await send_selfie(client, person), 409)
    assert (await status(client, person))["request"]["state"] == "open"


async def test_a_moderator_compares_the_selfie_and_approval_shows_the_badge(
    client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey, app: Litestar
) -> None:
    person, viewer = await register(client), await register(client)
    await uploaded(client, person["accessToken"])
    await run_jobs(valkey, db)
    request_id = await submitted(client, person)
    item = await queue_item(db, request_id)
    assert (item["kind"], item["severity"]) == ("verification", 2)
    public = f"/api/users/{person['user']['id']}"
    assert (await client.get(public, headers=bearer(viewer["accessToken"]))).json()["isVerified"] is False  # cached
    one, other = await staff(client, db), await staff(client, db)

    shown = await client.get(f"/api/admin/verifications/{request_id}", headers=bearer(one["accessToken"]))
    assert shown.status_code == 200, shown.text
    view = shown.json()
    assert view["userId"] == person["user"]["id"] and view["pose"] in POSES and view["state"] == "open"
    [photo] = view["photos"]
    assert (await fetch(client, photo["urls"]["large"])).status_code == 200
    selfie = await fetch(client, view["selfieUrl"])
    assert selfie.status_code == 200 and selfie.headers["content-type"] == "image/webp", selfie.text
    assert "no-store" in selfie.headers["cache-control"]
    assert not Image.open(io.BytesIO(selfie.content)).getexif() and b"GPS" not in selfie.content
    forged = view["selfieUrl"].replace("sig=", "sig=A")
    assert (await fetch(client, forged)).status_code == 403

    assert_problem(await decide(client, one, request_id, decision="approve"), 409)
    assert (await claim(client, other, item["id"])).status_code == 200
    assert_problem(await decide(client, one, request_id, decision="approve"), 409)
    decided = await decide(client, other, request_id, decision="approve")
    assert decided.status_code == 200, decided.text
    assert decided.json() == {"requestId": request_id, "state": "approved"}

    assert (await client.get(public, headers=bearer(viewer["accessToken"]))).json()["isVerified"] is True
    mine = (await client.get("/api/users/profile", headers=bearer(person["accessToken"]))).json()
    assert mine["isVerified"] is True
    after = await status(client, person)
    assert after["isVerified"] is True and after["request"] is None
    assert after["lastDecision"]["state"] == "approved" and after["lastDecision"]["reason"] is None
    assert_problem(await send_selfie(client, person), 409)
    assert await audited(db, person["user"]["id"]) == [
        ("verification.view", {"request": request_id}),
        ("verification.approve", {"request": request_id, "reason": ""}),
    ]

    # Decided, the face is kept no longer: the selfie is deleted by the job the decision committed.
    assert [name for name in objects(app.state.storage) if f"verification/{request_id}/" in name]
    assert (await fetch(client, view["selfieUrl"])).status_code == 404
    await run_jobs(valkey, db)
    assert not [name for name in objects(app.state.storage) if f"verification/{request_id}/" in name]


async def test_a_rejection_tells_the_person_why_and_they_may_try_again(
    client: httpx.AsyncClient, db: PostgresEngine
) -> None:
    person = await register(client)
    request_id = await submitted(client, person)
    moderator = await staff(client, db)
    assert (await claim(client, moderator, (await queue_item(db, request_id))["id"])).status_code == 200

    assert_invalid(await decide(client, moderator, request_id, decision="reject"), "reason")
    decided = await decide(client, moderator, request_id, decision="reject", reason="wrong-pose")
    assert decided.status_code == 200 and decided.json()["state"] == "rejected", decided.text

    notes = (await client.get("/api/notifications", headers=bearer(person["accessToken"]))).json()["items"]
    assert [note["kind"] for note in notes] == ["moderation"]
    after = await status(client, person)
    assert after["isVerified"] is False
    assert after["lastDecision"]["state"] == "rejected" and after["lastDecision"]["reason"] == "wrong-pose"
    assert "pose" in after["lastDecision"]["explanation"]
    assert after["request"]["state"] == "requested" and after["request"]["id"] != request_id, "no new request"
    assert ("verification.reject", {"request": request_id, "reason": "wrong-pose"}) in await audited(
        db, person["user"]["id"]
    )
    exported = (await client.get("/api/users/export", headers=bearer(person["accessToken"]))).json()["data"]
    held = {entry["id"]: entry for entry in exported["moderation"]["verifications"]}
    assert held[request_id]["state"] == "rejected" and held[request_id]["reason"] == "wrong-pose"


async def test_a_moderator_cannot_verify_themselves(client: httpx.AsyncClient, db: PostgresEngine) -> None:
    moderator = await staff(client, db)
    request_id = await submitted(client, moderator)
    assert (await claim(client, moderator, (await queue_item(db, request_id))["id"])).status_code == 200
    assert_problem(await decide(client, moderator, request_id, decision="approve"), 403)
    assert (await status(client, moderator))["isVerified"] is False


async def test_a_member_cannot_see_or_decide_a_request(client: httpx.AsyncClient) -> None:
    person, member = await register(client), await register(client)
    request_id = await submitted(client, person)
    as_member = bearer(member["accessToken"])
    assert_problem(await client.get(f"/api/admin/verifications/{request_id}", headers=as_member), 403)
    assert_problem(
        await client.post(
            f"/api/admin/verifications/{request_id}/decision", json={"decision": "approve"}, headers=as_member
        ),
        403,
    )
    # Their own verification is another request, with nothing of the first person's.
    theirs = await status(client, member)
    assert theirs["request"]["id"] != request_id and theirs["request"]["state"] == "requested"


async def test_erasure_leaves_no_request_or_selfie(
    client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey, app: Litestar
) -> None:
    person = await register(client)
    request_id = await submitted(client, person)
    moderator = await staff(client, db)
    view = (await client.get(f"/api/admin/verifications/{request_id}", headers=bearer(moderator["accessToken"]))).json()
    assert [name for name in objects(app.state.storage) if name.startswith(f"originals/verification/{request_id}/")]

    gone = await client.request(
        "DELETE", "/api/users/profile", json={"password": PASSWORD}, headers=bearer(person["accessToken"])
    )
    assert gone.status_code == 204, gone.text
    await run_jobs(valkey, db)

    assert await db.pool.fetchval("SELECT count(*) FROM moderation_verifications") == 0
    assert not [name for name in objects(app.state.storage) if "verification/" in name]
    assert (await queue_item(db, request_id))["state"] == "decided", "the queue still offers an erased request"
    assert (await fetch(client, view["selfieUrl"])).status_code == 404
    assert (
        await db.pool.fetchval(
            "SELECT count(*) FROM moderation_queue q WHERE q::text LIKE $1", f"%{person['user']['id']}%"
        )
        == 0
    )
