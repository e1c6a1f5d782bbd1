"""Lists page with signed cursors: every item once, in order; a cursor cannot be edited, nor used by another."""

from __future__ import annotations

import base64

import pytest

from tests.factories import bearer, register

SESSIONS = "/api/auth/sessions"


async def _sessions(db, me: dict, extra: int) -> list[str]:
    """``extra`` more logins for ``me``, each last seen a minute before the previous; all ids, newest first."""
    user = me["user"]["id"]
    await db.pool.execute(
        'INSERT INTO auth_sessions (id, "user", device, created_at, last_seen_at) '
        "SELECT gen_random_uuid(), $1, 'phone ' || n, now() - n * interval '1 minute', now() - n * interval '1 minute' "
        "FROM generate_series(1, $2) AS n",
        user,
        extra,
    )
    rows = await db.pool.fetch(
        'SELECT id FROM auth_sessions WHERE "user" = $1 ORDER BY last_seen_at DESC, id DESC', user
    )
    return [str(row["id"]) for row in rows]


async def _page(client, me: dict, **params):
    return await client.get(SESSIONS, params=params, headers=bearer(me["accessToken"]))


async def test_following_next_cursor_lists_every_item_once_in_order(client, db):
    me = await register(client)
    expected = await _sessions(db, me, 6)
    seen, cursor, pages = [], None, 0
    while True:
        response = await _page(client, me, limit=3, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "nextCursor"} and len(body["items"]) <= 3
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == expected and pages == 3
    first = (await _page(client, me)).json()
    assert [item["id"] for item in first["items"]] == expected and first["nextCursor"] is None


def _tampered(cursor: str) -> list[str]:
    body, _, mac = cursor.partition(".")
    position = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    edited = base64.urlsafe_b64encode(position.replace(b"-", b"+", 1)).rstrip(b"=").decode()
    return [f"{edited}.{mac}", f"{body}.{mac[:-2]}", body, "x" * 40, "é.é", f"{body}.{mac}x"]


async def test_an_edited_or_made_up_cursor_is_refused_as_a_problem(client, db):
    me = await register(client)
    await _sessions(db, me, 4)
    cursor = (await _page(client, me, limit=2)).json()["nextCursor"]
    for forged in _tampered(cursor):
        response = await _page(client, me, limit=2, cursor=forged)
        assert response.status_code == 422, (forged, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [error["field"] for error in response.json()["errors"]] == ["cursor"]


async def test_a_cursor_given_to_one_person_is_refused_for_another(client, db):
    me, other = await register(client), await register(client)
    await _sessions(db, me, 4)
    await _sessions(db, other, 4)
    mine = (await _page(client, me, limit=2)).json()["nextCursor"]
    assert (await _page(client, me, limit=2, cursor=mine)).status_code == 200
    response = await _page(client, other, limit=2, cursor=mine)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("limit", ["0", "-1", "101", "many", "2.5"])
async def test_a_limit_out_of_bounds_is_refused_naming_it(client, limit):
    me = await register(client)
    response = await client.get(f"{SESSIONS}?limit={limit}", headers=bearer(me["accessToken"]))
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "limit" in response.json()["detail"]


async def test_the_default_limit_is_20_and_100_is_allowed(client, db):
    me = await register(client)
    await _sessions(db, me, 24)
    first = (await _page(client, me)).json()
    assert len(first["items"]) == 20 and first["nextCursor"] is not None
    whole = (await _page(client, me, limit=100)).json()
    assert len(whole["items"]) == 25 and whole["nextCursor"] is None
