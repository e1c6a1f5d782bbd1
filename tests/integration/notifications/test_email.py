"""Notification email: account emails composed when their delivery comes due, the digest (who and how many, never
what was written, nothing told twice) and its one-click unsubscribe link, which works without signing in and
only when this server signed it."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from litestar import Litestar
from valkey.asyncio import Valkey

from server.notifications.email import Letter, compose
from server.notifications.unsubscribe import PATH
from tests.factories import register, run_jobs
from tests.integration.chat.stored import assert_problem
from tests.integration.chat.talk import send
from tests.integration.matching.crowd import crowd_in_one_cell, headers, ids, matched, swipe

PREFERENCES = "/api/notifications/preferences"


async def composed(app: Litestar, user_id: str | uuid.UUID, kind: str, delivery_id: uuid.UUID | None = None) -> Any:
    async with app.state.db.pool.acquire() as connection:
        return await compose(connection, delivery_id or uuid.uuid4(), uuid.UUID(str(user_id)), kind)


async def kinds_of(client: httpx.AsyncClient, person: dict[str, Any]) -> dict[str, str]:
    response = await client.get(PREFERENCES, headers=headers(person))
    assert response.status_code == 200, response.text
    kinds: dict[str, str] = response.json()["kinds"]
    return kinds


async def prefer(client: httpx.AsyncClient, person: dict[str, Any], kinds: dict[str, str]) -> None:
    response = await client.put(PREFERENCES, json={"kinds": kinds}, headers=headers(person))
    assert response.status_code == 200, response.text


async def one_click(client: httpx.AsyncClient, token: str, accept: str = "*/*") -> httpx.Response:
    """What a mailbox provider sends when its unsubscribe button is pressed (RFC 8058), without signing in."""
    return await client.post(
        PATH,
        params={"token": token},
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": accept},
    )


def unsubscribe_token(letter: Letter) -> str:
    """The token in the digest's List-Unsubscribe URL, which must be https on the public host."""
    url = letter.headers["List-Unsubscribe"].strip("<>")
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.path == PATH, url
    assert url in letter.text, "the email's text carries the same link for people to open"
    return parts.query.removeprefix("token=")


async def named(app: Litestar, person: dict[str, Any], first_name: str) -> None:
    await app.state.db.pool.execute(
        "UPDATE users SET first_name = $2 WHERE id = $1", uuid.UUID(ids(person)), first_name
    )


async def digest_owed(app: Litestar, person: dict[str, Any]) -> uuid.UUID:
    """The person's pending digest delivery."""
    delivery_id: uuid.UUID | None = await app.state.db.pool.fetchval(
        "SELECT id FROM notification_deliveries WHERE user_id = $1 AND kind = 'digest' AND state = 'pending'",
        uuid.UUID(ids(person)),
    )
    assert delivery_id is not None, "a notification of a digest kind owes a digest"
    return delivery_id


async def test_account_emails_link_to_the_app_and_the_web_page_with_a_token_that_works(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    person = await register(client, firstName="Robin")
    email = person["user"]["email"]
    verify = await composed(app, person["user"]["id"], "verify")
    assert (verify.to, verify.subject, verify.headers) == (email, "Confirm your email for Harvest", {})
    assert verify.text.startswith("Hi Robin,")
    token = verify.text.split("harvest://app/verify-email?token=")[1].split()[0]
    page = f"{app.state.settings.public_url()}/verify-email?token={token}"
    assert page in verify.text, "where the app is not installed, the web page opens the same link"
    assert (await client.post("/api/auth/verify-email", json={"token": token})).status_code == 204

    reset = await composed(app, person["user"]["id"], "reset")
    assert reset.subject == "Reset your Harvest password" and reset.headers == {}
    token = reset.text.split("harvest://app/reset-password?token=")[1].split()[0]
    changed = await client.post("/api/auth/reset-password", json={"token": token, "newPassword": "a fresh passphrase"})
    assert changed.status_code == 204, changed.text


async def test_an_erased_account_is_sent_nothing(app: Litestar, client: httpx.AsyncClient) -> None:
    for kind in ("verify", "reset", "digest"):
        assert await composed(app, uuid.uuid4(), kind) is None


async def test_a_digest_tells_who_and_how_many_of_its_kinds_only_never_what_was_written(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Any
) -> None:
    reader, sam, kai, lee = await crowd_in_one_cell(app, 4)
    for person, name in ((reader, "Rowan"), (sam, "Sam"), (kai, "Kai"), (lee, "Lee")):
        await named(app, person, name)
    # Matches stay pushed at once; messages and super likes are gathered into the digest.
    await prefer(client, reader, {"message": "digest", "like": "digest"})
    with_sam, with_kai = (await matched(client, reader, sam))["id"], (await matched(client, reader, kai))["id"]
    assert (await swipe(client, lee, reader, "superlike")).status_code == 200
    for number in range(2):
        assert (await send(client, sam, with_sam, f"s-{number}", content=f"secret lighthouse {number}")).is_success
    assert (await send(client, kai, with_kai, "k-0", content="secret orchard")).is_success
    await run_jobs(valkey, app.state.db)

    delivery = await digest_owed(app, reader)
    letter = await composed(app, ids(reader), "digest", delivery)
    assert letter.to == (
        await app.state.db.pool.fetchval("SELECT email FROM users WHERE id = $1", uuid.UUID(ids(reader)))
    )
    # The worker takes a burst's events side by side, so either conversation may have been noted first.
    assert re.search(r"^- 3 new messages from (Sam and Kai|Kai and Sam)$", letter.text, re.MULTILINE), letter.text
    assert "1 person super liked you" in letter.text
    assert letter.subject == "Harvest: 3 new messages, 1 super like"
    assert "secret" not in letter.text + letter.subject, "a digest never carries what anyone wrote"
    assert "Lee" not in letter.text, "a super like does not say who, as its push does not"
    assert "match" not in letter.text.lower(), "matches are pushed at once, not gathered"
    assert "harvest://app/" in letter.text
    assert letter.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_token(letter)

    # When it comes due, the dispatcher sends it with both RFC 8058 headers.
    await app.state.db.pool.execute("UPDATE notification_deliveries SET due_at = now() WHERE id = $1", delivery)
    await run_jobs(valkey, app.state.db)
    [sent] = [message for message in stack.mailbox.to(letter.to) if message["Subject"] == letter.subject]
    assert sent["List-Unsubscribe"] == letter.headers["List-Unsubscribe"]
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "secret" not in str(sent.get_content())


async def test_a_digest_does_not_tell_again_what_an_earlier_one_told(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    reader, sam, kai = await crowd_in_one_cell(app, 3)
    for person, name in ((reader, "Rowan"), (sam, "Sam"), (kai, "Kai")):
        await named(app, person, name)
    await prefer(client, reader, {"message": "digest"})
    with_sam, with_kai = (await matched(client, reader, sam))["id"], (await matched(client, reader, kai))["id"]
    assert (await send(client, sam, with_sam, "s-0")).is_success
    await run_jobs(valkey, app.state.db)
    first = await composed(app, ids(reader), "digest", await digest_owed(app, reader))
    assert "1 new message from Sam" in first.text

    await app.state.db.pool.execute(
        "INSERT INTO notification_deliveries (id, user_id, channel, kind, topic, state, sent_at)"
        " VALUES (gen_random_uuid(), $1, 'email', 'digest', 'digest', 'sent', now())",
        uuid.UUID(ids(reader)),
    )
    assert await composed(app, ids(reader), "digest") is None, "nothing new since the last digest went out"

    assert (await send(client, kai, with_kai, "k-0")).is_success
    await run_jobs(valkey, app.state.db)
    second = await composed(app, ids(reader), "digest")
    assert "1 new message from Kai" in second.text
    assert "Sam" not in second.text


async def reader_with_digests(app: Litestar, client: httpx.AsyncClient, valkey: Valkey) -> tuple[dict[str, Any], str]:
    """Someone whose messages and super likes come as a digest, with one digest owed; and its unsubscribe token."""
    reader, sam = await crowd_in_one_cell(app, 2)
    await prefer(client, reader, {"message": "digest", "like": "digest"})
    with_sam = (await matched(client, reader, sam))["id"]
    assert (await send(client, sam, with_sam, "s-0")).is_success
    await run_jobs(valkey, app.state.db)
    letter = await composed(app, ids(reader), "digest", await digest_owed(app, reader))
    return reader, unsubscribe_token(letter)


async def test_the_one_click_link_turns_digest_kinds_off_without_signing_in(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    reader, token = await reader_with_digests(app, client, valkey)
    answer = await one_click(client, token)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"unsubscribed": True}
    assert await kinds_of(client, reader) == {"match": "immediate", "message": "off", "like": "off"}
    assert await composed(app, ids(reader), "digest", await digest_owed(app, reader)) is None, "the owed one is void"
    again = await client.post(PATH, params={"token": token})
    assert again.status_code == 200 and again.json() == {"unsubscribed": True}, "an empty body, a second press"


async def test_forged_links_are_refused_and_change_nothing(
    app: Litestar, client: httpx.AsyncClient, valkey: Valkey
) -> None:
    reader, token = await reader_with_digests(app, client, valkey)
    victim = (await crowd_in_one_cell(app, 1))[0]
    await prefer(client, victim, {"match": "digest"})
    flipped = token[:30] + ("A" if token[30] != "A" else "B") + token[31:]
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    # The victim's id with the reader's MAC: a valid signature, over someone else.
    borrowed = base64.urlsafe_b64encode(uuid.UUID(ids(victim)).bytes + raw[16:]).rstrip(b"=").decode()
    for forged in (flipped, borrowed, token[:-4], "", "not a token!"):
        assert_problem(await one_click(client, forged), 400)
        page = await client.get(PATH, params={"token": forged})
        assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert (await kinds_of(client, reader))["message"] == "digest"
    assert (await kinds_of(client, victim))["match"] == "digest"


async def test_opening_the_link_only_shows_a_button(app: Litestar, client: httpx.AsyncClient, valkey: Valkey) -> None:
    reader, token = await reader_with_digests(app, client, valkey)
    page = await client.get(PATH, params={"token": token})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert f'action="{PATH}?token={token}"' in page.text and 'method="post"' in page.text
    assert (await kinds_of(client, reader))["message"] == "digest", "opening a link changes nothing"

    # The page's button: a browser asks for HTML and gets a page back, not JSON.
    pressed = await one_click(client, token, accept="text/html,*/*;q=0.8")
    assert pressed.status_code == 200 and pressed.headers["content-type"].startswith("text/html")
    assert (await kinds_of(client, reader))["message"] == "off"
