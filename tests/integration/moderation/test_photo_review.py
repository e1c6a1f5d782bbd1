"""Photo review under pre-moderation: a queue item per photo waiting, a reveal that is audited each time, and
decisions by the moderator holding the item's lease, never about their own photo."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey

from server.matching import candidates
from tests.factories import bearer, fetch, my_photos, register, run_jobs, uploaded
from tests.integration.chat.stored import assert_invalid, assert_problem
from tests.integration.moderation.review import audited, claim, pre_moderated, queue_item
from tests.integration.moderation.staff import staff
from tests.services import Stack


@pytest.fixture
def pre_moderation(stack: Stack) -> Iterator[None]:
    with pre_moderated(stack):
        yield


async def waiting_photo(client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey, owner: dict[str, Any]) -> str:
    """A photo of ``owner``'s, processed and waiting for review."""
    photo = await uploaded(client, owner["accessToken"])
    await run_jobs(valkey, db)
    [mine] = [p for p in await my_photos(client, owner["accessToken"]) if p["id"] == photo["id"]]
    assert mine["state"] == "pending_review"
    return str(photo["id"])


async def decide(client: httpx.AsyncClient, moderator: dict[str, Any], photo_id: str, **body: Any) -> httpx.Response:
    return await client.post(
        f"/api/admin/photos/{photo_id}/decision", json=body, headers=bearer(moderator["accessToken"])
    )


async def test_a_photo_waiting_for_review_is_queued_revealed_and_approved_by_the_lease_holder(
    client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey, pre_moderation: None
) -> None:
    owner, viewer = await register(client), await register(client)
    photo_id = await waiting_photo(client, db, valkey, owner)
    item = await queue_item(db, photo_id)
    assert (item["kind"], item["severity"], item["state"]) == ("photo", 2, "open")
    one, other = await staff(client, db), await staff(client, db)

    assert_problem(await decide(client, one, photo_id, decision="approve"), 409)
    assert (await claim(client, other, item["id"])).status_code == 200
    assert_problem(await claim(client, one, item["id"]), 409)
    assert_problem(await decide(client, one, photo_id, decision="approve"), 409)

    # Looking is a reveal: the sharp variant, and an audit entry each time.
    for _ in range(2):
        shown = await client.get(f"/api/admin/photos/{photo_id}", headers=bearer(other["accessToken"]))
        assert shown.status_code == 200, shown.text
        assert shown.json()["userId"] == owner["user"]["id"] and shown.json()["state"] == "pending_review"
        large = await fetch(client, shown.json()["largeUrl"])
        assert large.status_code == 200 and large.headers["content-type"] == "image/webp"
    seen = (await client.get(f"/api/users/{owner['user']['id']}", headers=bearer(viewer["accessToken"]))).json()
    assert seen["photos"] == [], "not shown to others before approval"

    decided = await decide(client, other, photo_id, decision="approve")
    assert decided.status_code == 200, decided.text
    assert decided.json() == {"photoId": photo_id, "state": "approved"}
    assert (await queue_item(db, photo_id))["state"] == "decided"
    seen = (await client.get(f"/api/users/{owner['user']['id']}", headers=bearer(viewer["accessToken"]))).json()
    assert [p["id"] for p in seen["photos"]] == [photo_id], "the cached photo list outlived the approval"
    # Committed with the decision: the owner's discovery row is worked out again, now with a photo.
    assert await db.pool.fetchval(
        "SELECT count(*) FROM job_outbox WHERE kind = $1 AND payload ->> 'userId' = $2",
        candidates.REFRESH,
        owner["user"]["id"],
    )
    assert await audited(db, owner["user"]["id"]) == [
        ("photo.reveal", {"photo": photo_id}),
        ("photo.reveal", {"photo": photo_id}),
        ("photo.approve", {"photo": photo_id, "reason": ""}),
    ]
    assert_problem(await decide(client, other, photo_id, decision="reject", reason="nudity"), 404)


async def test_a_rejected_photo_is_withdrawn_and_its_owner_told(
    client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey, pre_moderation: None
) -> None:
    owner = await register(client)
    photo_id = await waiting_photo(client, db, valkey, owner)
    moderator = await staff(client, db)
    shown = (await client.get(f"/api/admin/photos/{photo_id}", headers=bearer(moderator["accessToken"]))).json()
    assert (await claim(client, moderator, (await queue_item(db, photo_id))["id"])).status_code == 200

    assert_invalid(await decide(client, moderator, photo_id, decision="reject"), "reason")
    assert_invalid(await decide(client, moderator, photo_id, decision="reject", reason="ugly"), "reason")
    decided = await decide(client, moderator, photo_id, decision="reject", reason="not-a-person")
    assert decided.status_code == 200 and decided.json()["state"] == "rejected", decided.text

    [mine] = await my_photos(client, owner["accessToken"])
    assert (mine["state"], mine["rejectionReason"]) == ("rejected", "not-a-person")
    assert (await fetch(client, shown["largeUrl"])).status_code == 404, "a link handed out before still works"
    notes = (await client.get("/api/notifications", headers=bearer(owner["accessToken"]))).json()["items"]
    assert [note["kind"] for note in notes] == ["moderation"]
    assert ("photo.reject", {"photo": photo_id, "reason": "not-a-person"}) in await audited(db, owner["user"]["id"])


async def test_a_moderator_cannot_decide_on_their_own_photo(
    client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey, pre_moderation: None
) -> None:
    moderator = await staff(client, db)
    photo_id = await waiting_photo(client, db, valkey, moderator)
    assert (await claim(client, moderator, (await queue_item(db, photo_id))["id"])).status_code == 200
    assert_problem(await decide(client, moderator, photo_id, decision="approve"), 403)
    [mine] = await my_photos(client, moderator["accessToken"])
    assert mine["state"] == "pending_review"
    assert (await queue_item(db, photo_id))["state"] == "open"


async def test_under_post_moderation_no_photo_is_queued(
    client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey
) -> None:
    owner = await register(client)
    await uploaded(client, owner["accessToken"])
    await run_jobs(valkey, db)
    assert [p["state"] for p in await my_photos(client, owner["accessToken"])] == ["approved"]
    assert await db.pool.fetchval("SELECT count(*) FROM moderation_queue") == 0


async def test_a_member_cannot_reveal_or_decide(
    client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey, pre_moderation: None
) -> None:
    owner, member = await register(client), await register(client)
    photo_id = await waiting_photo(client, db, valkey, owner)
    assert_problem(await client.get(f"/api/admin/photos/{photo_id}", headers=bearer(member["accessToken"])), 403)
    assert_problem(await decide(client, member, photo_id, decision="approve"), 403)
    assert await audited(db, owner["user"]["id"]) == []


async def test_a_photo_deleted_while_it_waits_leaves_the_queue_with_it(
    client: httpx.AsyncClient, db: PostgresEngine, valkey: Valkey, pre_moderation: None
) -> None:
    owner = await register(client)
    photo_id = await waiting_photo(client, db, valkey, owner)
    moderator = await staff(client, db)
    item = await queue_item(db, photo_id)
    assert (await claim(client, moderator, item["id"])).status_code == 200
    deleted = await client.delete(f"/api/users/photos/{photo_id}", headers=bearer(owner["accessToken"]))
    assert deleted.status_code == 204
    assert (await queue_item(db, photo_id))["state"] == "decided", "an item nobody can decide stays in the queue"

    assert_problem(await decide(client, moderator, photo_id, decision="approve"), 404)
    assert await audited(db, owner["user"]["id"]) == []
