"""Nobody reaches another person's things: every endpoint that takes an id is tried with a second
user's token against the first user's ids. A new id-taking endpoint fails here until it is added."""

from __future__ import annotations

import uuid

from litestar.routes import HTTPRoute

from tests.factories import bearer, my_photos, register, run_jobs, uploaded
from tests.integration.chat.talk import pairs, send
from tests.integration.photos import samples

#: path parameters that name a kind of thing (a sign-in provider, a file of the API docs), not somebody's thing
NOT_IDS = {"provider", "path", "file_path"}


def id_taking_endpoints(app) -> set[str]:
    found = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute) and set(route.path_parameters) - NOT_IDS:
            found |= {f"{method} {route.path}" for method in route.methods - {"OPTIONS", "HEAD"}}
    return found


async def test_every_id_taking_endpoint_refuses_a_second_users_token(client, db, valkey, app):
    owner = await register(client)
    intruder = await register(client)
    await uploaded(client, owner["accessToken"])
    await uploaded(client, owner["accessToken"])
    await run_jobs(valkey, db)
    await client.put("/api/users/preferences", json={"maxDistanceKm": 7}, headers=bearer(owner["accessToken"]))
    photos = await my_photos(client, owner["accessToken"])
    photo_id = photos[0]["id"]
    [session] = (await client.get("/api/auth/sessions", headers=bearer(owner["accessToken"]))).json()["items"]
    as_intruder = bearer(intruder["accessToken"])
    owner_id = owner["user"]["id"]
    [(talker, _, match_id)] = await pairs(app, client)
    said = await send(client, talker, match_id, "c-1", "for my match only")
    chat = f"/api/chat/conversations/{match_id}"
    await run_jobs(valkey, db)
    [note] = (await client.get("/api/notifications", headers=bearer(talker["accessToken"]))).json()["items"]
    device = (
        await client.post(
            "/api/users/devices",
            json={"token": "ab" * 32, "platform": "ios", "provider": "apns"},
            headers=bearer(owner["accessToken"]),
        )
    ).json()
    blocked_id = talker["user"]["id"]
    assert (
        await client.post("/api/safety/blocks", json={"userId": blocked_id}, headers=bearer(owner["accessToken"]))
    ).status_code == 201

    #: endpoint → (status the intruder got, status that means refused)
    checked: dict[str, tuple[int, int]] = {
        "DELETE /api/auth/sessions/{session_id:uuid}": (
            (await client.delete(f"/api/auth/sessions/{session['id']}", headers=as_intruder)).status_code,
            404,
        ),
        "DELETE /api/users/photos/{photo_id:uuid}": (
            (await client.delete(f"/api/users/photos/{photo_id}", headers=as_intruder)).status_code,
            404,
        ),
        # The public profile is meant to be seen; what matters is what it leaves out (checked below).
        "GET /api/users/{user_id:uuid}": (
            (await client.get(f"/api/users/{owner_id}", headers=as_intruder)).status_code,
            200,
        ),
        # Media needs a signature the server made; an id alone gets nothing.
        "GET /media/{photo_id:str}/{name:str}": (
            (await client.get(f"/media/{photo_id}/large.webp?exp=99999999999&sig=guess")).status_code,
            403,
        ),
        "GET /media/chat/{photo_id:str}/{name:str}": (
            (await client.get(f"/media/chat/{photo_id}/large.webp?exp=99999999999&sig=guess")).status_code,
            403,
        ),
        # A conversation is the two matched people's alone.
        "GET /api/chat/conversations/{match_id:uuid}/messages": (
            (await client.get(f"{chat}/messages", headers=as_intruder)).status_code,
            404,
        ),
        "POST /api/chat/conversations/{match_id:uuid}/messages": (
            (
                await client.post(
                    f"{chat}/messages", json={"clientId": "in-1", "content": "hi", "type": "text"}, headers=as_intruder
                )
            ).status_code,
            404,
        ),
        "PUT /api/chat/conversations/{match_id:uuid}/read": (
            (
                await client.put(f"{chat}/read", json={"upToMessageId": said.json()["id"]}, headers=as_intruder)
            ).status_code,
            404,
        ),
        "POST /api/chat/conversations/{match_id:uuid}/photos": (
            (
                await client.post(
                    f"{chat}/photos", files={"file": ("p.png", samples.png(), "image/png")}, headers=as_intruder
                )
            ).status_code,
            404,
        ),
        "DELETE /api/users/devices/{device_id:uuid}": (
            (await client.delete(f"/api/users/devices/{device['id']}", headers=as_intruder)).status_code,
            404,
        ),
        # A block is looked up among the caller's own: someone else's stays.
        "DELETE /api/safety/blocks/{user_id:uuid}": (
            (await client.delete(f"/api/safety/blocks/{blocked_id}", headers=as_intruder)).status_code,
            404,
        ),
        # Staff routes: a member's token is refused whatever the id.
        **{
            f"{method} /api/admin/{path}": (
                (
                    await client.request(
                        method, f"/api/admin/{path.split('{')[0]}{uuid.uuid4()}{tail}", headers=as_intruder
                    )
                ).status_code,
                403,
            )
            for method, path, tail in (
                ("POST", "queue/{item_id:uuid}/claim", "/claim"),
                ("POST", "queue/{item_id:uuid}/release", "/release"),
                ("GET", "reports/{report_id:uuid}", ""),
                ("POST", "reports/{report_id:uuid}/decision", "/decision"),
                ("POST", "strikes/{strike_id:uuid}/confirm", "/confirm"),
                ("POST", "appeals/{appeal_id:uuid}/decision", "/decision"),
                ("GET", "users/{user_id:uuid}", ""),
                ("POST", "users/{user_id:uuid}/actions", "/actions"),
                ("GET", "users/{user_id:uuid}/export", "/export"),
                ("DELETE", "users/{user_id:uuid}", ""),
                ("GET", "users/{user_id:uuid}/verification", "/verification"),
                ("GET", "photos/{photo_id:uuid}", ""),
                ("POST", "photos/{photo_id:uuid}/decision", "/decision"),
                ("GET", "verifications/{request_id:uuid}", ""),
                ("POST", "verifications/{request_id:uuid}/decision", "/decision"),
                ("GET", "appeals/{appeal_id:uuid}", ""),
                ("GET", "photos/{photo_id:uuid}/preview", "/preview"),
                ("GET", "reports/{report_id:uuid}/photos/{photo_id:uuid}", f"/photos/{uuid.uuid4()}"),
            )
        },
        # An evidence photo's link, like a selfie's, needs a signature the server made.
        "GET /api/admin/evidence/{report_id:uuid}/{copy_id:uuid}": (
            (
                await client.get(
                    f"/api/admin/evidence/{uuid.uuid4()}/{uuid.uuid4()}?exp=99999999999&sig=guess", headers=as_intruder
                )
            ).status_code,
            403,
        ),
        # A selfie's link needs a signature the server made, whoever asks.
        "GET /api/admin/verifications/{request_id:uuid}/selfie": (
            (
                await client.get(
                    f"/api/admin/verifications/{uuid.uuid4()}/selfie?exp=99999999999&sig=guess", headers=as_intruder
                )
            ).status_code,
            403,
        ),
        "PUT /api/notifications/{notification_id:uuid}/read": (
            (await client.put(f"/api/notifications/{note['id']}/read", headers=as_intruder)).status_code,
            404,
        ),
    }
    assert set(checked) == id_taking_endpoints(app), "an id-taking endpoint is not covered by this sweep"
    assert all(got == refused for got, refused in checked.values()), checked

    # Ids inside bodies: reordering someone else's photos.
    reorder = await client.put("/api/users/photos/order", json=[p["id"] for p in reversed(photos)], headers=as_intruder)
    assert reorder.status_code == 404
    # Nothing of the owner's changed, and their preferences are nowhere to be read.
    assert [p["id"] for p in await my_photos(client, owner["accessToken"])] == [p["id"] for p in photos]
    assert (await client.get("/api/auth/sessions", headers=bearer(owner["accessToken"]))).status_code == 200
    blocks = (await client.get("/api/safety/blocks", headers=bearer(owner["accessToken"]))).json()["items"]
    assert [block["userId"] for block in blocks] == [blocked_id]
    public = (await client.get(f"/api/users/{owner_id}", headers=as_intruder)).json()
    assert not {
        "minAge",
        "maxAge",
        "maxDistanceKm",
        "preferredGenders",
        "relationshipGoals",
        "sexualOrientation",
    } & set(public)
    assert (await client.get(f"/api/users/{owner_id}/preferences", headers=as_intruder)).status_code == 404
    assert (await client.get(f"/api/users/{uuid.uuid4()}", headers=as_intruder)).status_code == 404
