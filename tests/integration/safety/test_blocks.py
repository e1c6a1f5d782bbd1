"""Blocks: after one person blocks another, neither is shown to the other anywhere, and the blocked person is told
nothing. The sweep tries every GET endpoint that shows people, both ways round; a new GET endpoint fails it until
it is listed either as showing people (and checked here) or as showing no one."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute
from valkey.asyncio import Valkey

from server.matching.deck import deck_cache_keys
from server.privacy import registry
from server.safety.blocks import _BETWEEN, unblocked
from tests.factories import bearer, run_jobs
from tests.integration.chat.live import ApiWorkers, Live
from tests.integration.chat.stored import assert_invalid, assert_problem, unmatch
from tests.integration.chat.talk import CONVERSATIONS, messages, pairs, send
from tests.integration.matching.crowd import (
    card_ids,
    crowd_in_one_cell,
    deck_page,
    headers,
    ids,
    matched,
    my_matches,
    swipe,
    whole_deck,
)

BLOCKS = "/api/safety/blocks"

#: GET endpoints that show nobody but the caller, or nothing of people at all, and why
SHOWS_NO_ONE = {
    "/health": "the process is up",
    "/ready": "the services answer",
    "/api/auth/sessions": "the caller's own logins",
    "/api/users/profile": "the caller's own profile",
    "/api/users/preferences": "the caller's own preferences",
    "/api/users/interests": "the catalogue of interests",
    "/api/users/export": "the caller's own data; what it says of a blocker is checked below",
    "/api/users/verification": "the caller's own verification request",
    "/api/notifications/preferences": "the caller's own settings",
    "/api/safety/decisions": "moderation decisions about the caller, naming no one",
    "/api/notifications/unsubscribe": "a signed one-click link's page",
    # Bytes behind links only the people-showing views hand out, signed and short-lived; chat photos' links are
    # served only while their match stands, and a block ends it.
    "/media/{photo_id:str}/{name:str}": "a photo, by a signed link",
    "/media/chat/{photo_id:str}/{name:str}": "a chat photo, by a signed link",
    "/": "the landing page",
    "/reset-password": "an account page",
    "/verify-email": "an account page",
    "/pages/static/{file_path:path}": "the pages' assets",
    "/api": "the API's documentation",
    "/api/docs": "the API's documentation",
    "/api/docs/assets/{file_path:path}": "the documentation's assets",
    "/api/openapi.json": "the API's schema",
    "/api/oauth2-redirect.html": "the documentation's sign-in page",
    "/api/{path:str}": "the 404 of unknown documentation paths",
}
#: moderators' and admins' tools: a block is between members, and staff see whom their work needs
STAFF = "/api/admin/"


@dataclass
class Scene:
    """Four people near one another: A and B matched and wrote to each other; D superliked A; E and A have never
    swiped each other (each is in the other's deck)."""

    a: dict[str, Any]
    b: dict[str, Any]
    d: dict[str, Any]
    e: dict[str, Any]
    match_id: str

    @property
    def everyone(self) -> list[dict[str, Any]]:
        return [self.a, self.b, self.d, self.e]


View = Callable[[httpx.AsyncClient, Valkey, Scene, dict[str, Any]], Awaitable[set[str]]]


async def _items(client: httpx.AsyncClient, path: str, viewer: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get(path, params={"limit": 100}, headers=headers(viewer))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _profiles(client: httpx.AsyncClient, _: Valkey, scene: Scene, viewer: dict[str, Any]) -> set[str]:
    shown = set()
    for other in scene.everyone:
        if other is not viewer:
            response = await client.get(f"/api/users/{ids(other)}", headers=headers(viewer))
            assert response.status_code in (200, 404), response.text
            if response.status_code == 200:
                shown.add(response.json()["id"])
    return shown


async def _deck(client: httpx.AsyncClient, valkey: Valkey, _: Scene, viewer: dict[str, Any]) -> set[str]:
    # A deck leaves out whom it served in the last hour: forgotten, so every look is a deck worked out afresh.
    await valkey.delete(*deck_cache_keys(uuid.UUID(ids(viewer))))
    return set(card_ids(await whole_deck(client, viewer, limit=100)))


async def _matches(client: httpx.AsyncClient, _: Valkey, __: Scene, viewer: dict[str, Any]) -> set[str]:
    return {item["user"]["id"] for item in await _items(client, "/api/matches/my-matches", viewer)}


async def _conversations(client: httpx.AsyncClient, _: Valkey, __: Scene, viewer: dict[str, Any]) -> set[str]:
    return {item["user"]["id"] for item in await _items(client, CONVERSATIONS, viewer)}


async def _messages(client: httpx.AsyncClient, _: Valkey, scene: Scene, viewer: dict[str, Any]) -> set[str]:
    response = await messages(client, viewer, scene.match_id, limit=100)
    if response.status_code == 404:
        return set()
    assert response.status_code == 200, response.text
    return {message["senderId"] for message in response.json()["items"]} - {ids(viewer)}


async def _notifications(client: httpx.AsyncClient, _: Valkey, __: Scene, viewer: dict[str, Any]) -> set[str]:
    return await _noted(client, viewer)


async def _noted(client: httpx.AsyncClient, viewer: dict[str, Any]) -> set[str]:
    """Whom the viewer's notifications name."""
    return {item["data"]["otherUserId"] for item in await _items(client, "/api/notifications", viewer)}


async def _blocks(client: httpx.AsyncClient, _: Valkey, __: Scene, viewer: dict[str, Any]) -> set[str]:
    return {item["userId"] for item in await _items(client, BLOCKS, viewer)}


#: every GET endpoint that shows people: whom it shows the viewer
VIEWS: dict[str, View] = {
    "/api/users/{user_id:uuid}": _profiles,
    "/api/matches/potential": _deck,
    "/api/matches/my-matches": _matches,
    "/api/chat/conversations": _conversations,
    "/api/chat/conversations/{match_id:uuid}/messages": _messages,
    "/api/notifications": _notifications,
    "/api/safety/blocks": _blocks,
}


def get_endpoints(app: Litestar) -> set[str]:
    return {
        route.path
        for route in app.routes
        if isinstance(route, HTTPRoute) and "GET" in route.methods and not route.path.startswith(STAFF)
    }


async def block(client: httpx.AsyncClient, blocker: dict[str, Any], blocked: Any) -> httpx.Response:
    user_id = ids(blocked) if isinstance(blocked, dict) else str(blocked)
    return await client.post(BLOCKS, json={"userId": user_id}, headers=headers(blocker))


async def _scene(app: Litestar, client: httpx.AsyncClient, valkey: Valkey) -> Scene:
    a, b, d, e = await crowd_in_one_cell(app, 4)
    match_id = (await matched(client, a, b))["id"]
    for writer, client_id in ((b, "b-1"), (a, "a-1")):
        assert (await send(client, writer, match_id, client_id, "hi")).status_code == 201
    assert (await swipe(client, d, a, "superlike")).status_code == 200
    await run_jobs(valkey, app.state.db)
    return Scene(a, b, d, e, match_id)


async def _seen(client: httpx.AsyncClient, valkey: Valkey, scene: Scene) -> dict[str, set[tuple[str, str]]]:
    """Per endpoint, every (viewer, person shown) among the scene's people."""
    return {
        path: {(ids(viewer), shown) for viewer in scene.everyone for shown in await view(client, valkey, scene, viewer)}
        for path, view in VIEWS.items()
    }


async def test_every_endpoint_that_shows_people_hides_both_sides_of_a_block(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    assert not set(VIEWS) & set(SHOWS_NO_ONE)
    assert get_endpoints(app) == set(VIEWS) | set(SHOWS_NO_ONE), (
        "a GET endpoint is neither checked by this sweep nor listed as showing no one"
    )
    scene = await _scene(app, client, valkey)
    a, b, d, e = (ids(person) for person in scene.everyone)
    kept_apart = {(a, b), (b, a), (a, d), (d, a), (a, e), (e, a)}

    before = await _seen(client, valkey, scene)
    # Every endpoint showed someone across a block-to-be: the checks below are not passing for want of people.
    for path in set(VIEWS) - {BLOCKS}:
        assert before[path] & kept_apart, path
    assert before[BLOCKS] == set()

    # A blocks two people; the third blocks A: a block works the same whoever made it.
    for blocker, blocked in ((scene.a, scene.b), (scene.a, scene.d), (scene.e, scene.a)):
        response = await block(client, blocker, blocked)
        assert response.status_code == 201, response.text
    await run_jobs(valkey, app.state.db)

    after = await _seen(client, valkey, scene)
    for path in set(VIEWS) - {BLOCKS}:
        assert not after[path] & kept_apart, (path, after[path] & kept_apart)
    # The one exception: the blocker's own list of whom they blocked. Never who blocked them.
    assert after[BLOCKS] == {(a, b), (a, d), (e, a)}


async def test_a_kept_deck_stops_showing_someone_blocked_while_it_is_paged(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    seeker, *others = await crowd_in_one_cell(app, 5)
    first = await deck_page(client, seeker, limit=1)
    assert first.status_code == 200, first.text
    [served] = card_ids(first.json()["items"])
    left = [person for person in others if ids(person) != served]
    for person in left[:2]:
        assert (await block(client, seeker, person)).status_code == 201
    # The one blocked last blocks from the other side.
    assert (await block(client, left[2], seeker)).status_code == 201

    rest = await whole_deck(client, seeker, limit=1, cursor=first.json()["nextCursor"])

    assert card_ids(rest) == []


async def test_a_block_ends_the_match_as_an_unmatch_would_and_live_sockets_hear_the_same(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, workers: ApiWorkers
) -> None:
    [(blocker, blocked, blocked_match), (leaver, left, left_match)] = await pairs(app, client, 2)
    await run_jobs(valkey, app.state.db)
    sockets = {
        name: await Live.open(workers, 0, person["accessToken"])
        for name, person in (("blocker", blocker), ("blocked", blocked), ("left", left))
    }
    try:
        assert (await block(client, blocker, blocked)).status_code == 201
        await unmatch(client, leaver, left_match)
        await run_jobs(valkey, app.state.db)

        told_blocked = await sockets["blocked"].next("match_ended")
        told_left = await sockets["left"].next("match_ended")
        assert (await sockets["blocker"].next("match_ended"))["data"] == {"matchId": blocked_match}
        # The blocked person's frame is an unmatch's, and nothing else arrives that the unmatched did not get.
        assert told_blocked["data"] == {"matchId": blocked_match} and told_left["data"] == {"matchId": left_match}
        assert set(told_blocked) == set(told_left)
        rest_blocked, rest_left = await sockets["blocked"].quiet(1.0), await sockets["left"].quiet(0.1)
        assert [f["type"] for f in rest_blocked] == [f["type"] for f in rest_left]
    finally:
        for live in sockets.values():
            await live.close()

    # The conversation is over for both, refused as any ended one is.
    for person, match_id in ((blocked, blocked_match), (blocker, blocked_match), (left, left_match)):
        assert_problem(await messages(client, person, match_id), 404)
    sent_blocked = assert_problem(await send(client, blocked, blocked_match, "late-1"), 404)
    sent_left = assert_problem(await send(client, left, left_match, "late-2"), 404)
    assert sent_blocked["detail"] == sent_left["detail"]
    ended = await app.state.db.pool.fetchrow("SELECT ended_at, ended_by FROM matches WHERE id = $1", blocked_match)
    assert ended["ended_at"] is not None and str(ended["ended_by"]) == ids(blocker)


async def test_the_blocked_person_sees_what_they_would_had_the_blocker_erased_their_account(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(blocker, blocked, blocked_match), (erased, bereft, bereft_match)] = await pairs(app, client, 2)
    await run_jobs(valkey, app.state.db)
    assert (await block(client, blocker, blocked)).status_code == 201
    await registry.erase(app.state.db, valkey, uuid.UUID(ids(erased)))
    await run_jobs(valkey, app.state.db)

    def same(one: httpx.Response, other: httpx.Response) -> None:
        assert (one.status_code, one.json().get("detail")) == (other.status_code, other.json().get("detail"))

    for path in ("/api/matches/my-matches", CONVERSATIONS, "/api/notifications", BLOCKS):
        for person in (blocked, bereft):
            assert await _items(client, path, person) == [], path
    same(
        await client.get(f"/api/users/{ids(blocker)}", headers=headers(blocked)),
        await client.get(f"/api/users/{ids(erased)}", headers=headers(bereft)),
    )
    same(await messages(client, blocked, blocked_match), await messages(client, bereft, bereft_match))
    # Swiping them is refused as swiping someone who never existed is.
    nobody = await swipe(client, blocked, str(uuid.uuid4()))
    assert nobody.status_code == 404
    same(await swipe(client, blocked, blocker), nobody)
    same(await swipe(client, blocked, blocker, "superlike"), nobody)
    # And blocking back is an ordinary block: nothing in its answer tells of the first.
    again = await block(client, blocked, blocker)
    assert again.status_code == 201 and again.json()["userId"] == ids(blocker)
    # The blocked person's export holds no block of them.
    export = await client.get("/api/users/export", headers=headers(blocked))
    assert export.status_code == 200, export.text
    blocks = export.json()["data"]["safety"]["blocks"]
    assert blocks == [{"blocked": ids(blocker), "created_at": again.json()["createdAt"]}]
    mine = await client.get("/api/users/export", headers=headers(blocker))
    assert [row["blocked"] for row in mine.json()["data"]["safety"]["blocks"]] == [ids(blocked)]


async def test_a_block_drops_notifications_and_waiting_pushes_between_the_two_only(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    target, liker, other_liker = await crowd_in_one_cell(app, 3)
    for person in (liker, other_liker):
        assert (await swipe(client, person, target, "superlike")).status_code == 200
    await run_jobs(valkey, app.state.db)
    pool = app.state.db.pool
    # Pushes still waiting (held by quiet hours, say) about each like, as the notification owed them.
    for about in (liker, other_liker):
        await pool.execute(
            "INSERT INTO notification_deliveries (id, user_id, channel, kind, topic, about, due_at)"
            " VALUES (gen_random_uuid(), $1, 'push', 'like', $2, $3, now() + interval '1 hour')",
            uuid.UUID(ids(target)),
            f"like:{ids(about)}",
            uuid.UUID(ids(about)),
        )
    assert await _noted(client, target) == {ids(liker), ids(other_liker)}

    assert (await block(client, target, liker)).status_code == 201

    assert await _noted(client, target) == {ids(other_liker)}
    waiting = await pool.fetch("SELECT about FROM notification_deliveries WHERE user_id = $1", uuid.UUID(ids(target)))
    assert [str(row["about"]) for row in waiting] == [ids(other_liker)]
    # A like still on its way when the block came tells of nothing either.
    assert (await swipe(client, liker, target, "superlike")).status_code == 404
    await run_jobs(valkey, app.state.db)
    assert await _noted(client, target) == {ids(other_liker)}


async def test_unblocking_lifts_the_block_but_does_not_bring_the_match_back(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    [(one, other, match_id)] = await pairs(app, client)
    assert (await block(client, one, other)).status_code == 201

    response = await client.delete(f"{BLOCKS}/{ids(other)}", headers=headers(one))

    assert response.status_code == 204, response.text
    for me, you in ((one, other), (other, one)):
        assert (await my_matches(client, me)).json()["items"] == []
        assert_problem(await messages(client, me, match_id), 404)
        assert (await client.get(f"/api/users/{ids(you)}", headers=headers(me))).status_code == 200
    # Both swipes stand, so neither comes back in the other's deck, and liking again changes nothing.
    assert (await swipe(client, other, one)).json() == {"matched": False, "match": None}
    assert ids(other) not in card_ids(await whole_deck(client, one, limit=100))
    assert_problem(await client.delete(f"{BLOCKS}/{ids(other)}", headers=headers(one)), 404)


async def test_blocking_answers_as_the_contract_says(app: Litestar, client: httpx.AsyncClient, valkey: Valkey) -> None:
    me, first, second, gone = await crowd_in_one_cell(app, 4)

    made = await block(client, me, first)
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {"userId", "firstName", "createdAt"} and body["userId"] == ids(first)
    assert body["firstName"] == first["user"]["firstName"]
    again = await block(client, me, first)
    assert again.status_code == 200 and again.json() == body
    assert (await block(client, me, second)).status_code == 201

    assert_invalid(await block(client, me, me), "userId")
    assert_problem(await block(client, me, uuid.uuid4()), 404)
    await registry.erase(app.state.db, valkey, uuid.UUID(ids(gone)))
    assert_problem(await block(client, me, gone), 404)
    assert_invalid(await client.post(BLOCKS, json={"userId": "not-an-id"}, headers=headers(me)), "userId")
    assert_problem(await client.delete(f"{BLOCKS}/{uuid.uuid4()}", headers=headers(me)), 404)
    # Someone else's block is not the caller's to lift.
    assert_problem(await client.delete(f"{BLOCKS}/{ids(first)}", headers=headers(second)), 404)

    # Paged like every list: most recent first, one at a time.
    page = await client.get(BLOCKS, params={"limit": 1}, headers=headers(me))
    assert [item["userId"] for item in page.json()["items"]] == [ids(second)]
    rest = await client.get(BLOCKS, params={"limit": 1, "cursor": page.json()["nextCursor"]}, headers=headers(me))
    assert rest.json() == {"items": [body], "nextCursor": None}
    assert (await client.get(BLOCKS, headers=headers(first))).json() == {"items": [], "nextCursor": None}


async def test_blocks_need_a_signed_in_caller(client: httpx.AsyncClient) -> None:
    stranger = bearer("not-a-token")
    for method, path, body in (
        ("POST", BLOCKS, {"userId": str(uuid.uuid4())}),
        ("GET", BLOCKS, None),
        ("DELETE", f"{BLOCKS}/{uuid.uuid4()}", None),
    ):
        for extra in ({}, stranger):
            assert_problem(await client.request(method, path, json=body, headers=extra), 401)


async def test_either_direction_of_a_block_is_found_through_an_index(app: Litestar, db: object) -> None:
    pool = app.state.db.pool
    one, other = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as connection, connection.transaction():
        # Tables this small are read whole whatever indexes exist; what matters is that the indexes are there.
        await connection.execute("SET LOCAL enable_seqscan = off")
        # The deck's anti-join of one pair, and one person against many (both directions each).
        for sql in (f"SELECT 1 WHERE {unblocked('$1::uuid', '$2::uuid')}", _BETWEEN):
            arguments = (one, other if sql != _BETWEEN else [other])
            plan = "\n".join(row[0] for row in await connection.fetch(f"EXPLAIN {sql}", *arguments))
            assert "Seq Scan" not in plan and "Index" in plan, plan
