"""The web pages behind emailed links: forms that work once, refuse forged posts and keep tokens to themselves."""

from __future__ import annotations

import re

import httpx

from tests.factories import PASSWORD, person, register, run_jobs

PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
}


async def open_form(client: httpx.AsyncClient, url: str) -> tuple[httpx.Response, dict[str, str]]:
    """GET a page with a form; returns it and what a browser would post back (the CSRF field and cookie)."""
    page = await client.get(url)
    assert page.status_code in {200, 410}, page.text
    field = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert field and "harvest_csrf" in page.cookies, page.text
    return page, {"_csrf_token": field.group(1), "cookie": page.cookies["harvest_csrf"]}


async def submit(client: httpx.AsyncClient, url: str, csrf: dict[str, str], **fields: str) -> httpx.Response:
    body = {"_csrf_token": csrf["_csrf_token"], **fields}
    return await client.post(url, data=body, headers={"Cookie": f"harvest_csrf={csrf['cookie']}"})


async def emailed_token(db, valkey, stack, email: str, purpose: str) -> str:
    """The token of the newest account email of ``purpose``, checking it carries the web page link too."""
    await run_jobs(valkey, db)
    contents = [str(message.get_content()) for message in stack.mailbox.to(email)]
    # A sign-up's verification email and a reset email may arrive in either order: pick by the link.
    content = [text for text in contents if f"/{purpose}?" in text][-1]
    found = re.search(rf"harvest://app/{purpose}\?token=([\w-]+)", content)
    assert found, content
    assert f"https://localhost/{purpose}?token={found.group(1)}" in content, "the web page is the fallback"
    return found.group(1)


async def test_landing_page_names_the_service_with_strict_headers_and_no_cookie(client):
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Harvest</h1>" in page.text and 'href="/pages/static/site.css"' in page.text
    assert {name: page.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS
    assert "set-cookie" not in page.headers
    assert "<script" not in page.text
    style = await client.get("/pages/static/site.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")


async def test_api_answers_stay_json_without_csrf_cookies(client):
    refused = await client.post("/api/auth/verify-email", json={"token": "x"})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert "set-cookie" not in refused.headers
    document = (await client.get("/api/openapi.json")).json()
    assert not {"/", "/reset-password", "/verify-email"} & set(document["paths"])


async def test_reset_page_explains_the_rules_refuses_weak_passwords_then_sets_it_once(client, db, valkey, stack):
    account = person()
    email = account["email"].strip().lower()
    await register(client, **account)
    assert (await client.post("/api/auth/forgot-password", json={"email": email})).status_code == 202
    token = await emailed_token(db, valkey, stack, email, "reset-password")
    url = f"/reset-password?token={token}"
    page, csrf = await open_form(client, url)
    assert {name: page.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS
    assert "Use 8 to 128 characters" in page.text and 'autocomplete="new-password"' in page.text
    assert '<label for="password">' in page.text and '<label for="repeat">' in page.text

    differ = await submit(client, "/reset-password", csrf, token=token, password="one passphrase", repeat="another")
    assert differ.status_code == 422 and "not the same" in differ.text
    weak = await submit(client, "/reset-password", csrf, token=token, password="password", repeat="password")
    assert weak.status_code == 422 and "most common passwords" in weak.text
    assert 'aria-invalid="true"' in weak.text
    new_password = "a page-made passphrase"
    done = await submit(client, "/reset-password", csrf, token=token, password=new_password, repeat=new_password)
    assert done.status_code == 200 and "Your password is set" in done.text

    assert (await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code == 401
    assert (await client.post("/api/auth/login", json={"email": email, "password": new_password})).status_code == 200
    used = await client.get(url)
    assert used.status_code == 410 and "no longer works" in used.text and 'action="/forgot-password"' in used.text
    again = await submit(
        client, "/reset-password", csrf, token=token, password="third passphrase", repeat="third passphrase"
    )
    assert again.status_code == 410


async def test_a_post_without_the_csrf_pair_is_refused_and_leaves_the_token_usable(client, db, valkey, stack):
    account = person()
    email = account["email"].strip().lower()
    await register(client, **account)
    token = await emailed_token(db, valkey, stack, email, "verify-email")
    _, csrf = await open_form(client, f"/verify-email?token={token}")
    _, other = await open_form(client, f"/verify-email?token={token}")

    bare = await client.post("/verify-email", data={"token": token})
    assert bare.status_code == 403 and "This form expired" in bare.text
    assert {name: bare.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS
    field_only = await client.post("/verify-email", data={"token": token, "_csrf_token": csrf["_csrf_token"]})
    assert field_only.status_code == 403
    mixed = {"_csrf_token": csrf["_csrf_token"], "cookie": other["cookie"]}
    assert (await submit(client, "/verify-email", mixed, token=token)).status_code == 403

    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.json()["user"]["emailVerified"] is False
    assert (await submit(client, "/verify-email", csrf, token=token)).status_code == 200


async def test_verify_page_confirms_on_the_button_never_on_opening(client, db, valkey, stack):
    account = person()
    email = account["email"].strip().lower()
    await register(client, **account)
    token = await emailed_token(db, valkey, stack, email, "verify-email")
    page, csrf = await open_form(client, f"/verify-email?token={token}")
    assert '<button type="submit">Confirm my address</button>' in page.text
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.json()["user"]["emailVerified"] is False, "opening the link must not verify"

    done = await submit(client, "/verify-email", csrf, token=token)
    assert done.status_code == 200 and "is confirmed" in done.text
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.json()["user"]["emailVerified"] is True
    assert (await client.get(f"/verify-email?token={token}")).status_code == 410
    assert (await client.get("/verify-email")).status_code == 410


async def test_pages_are_rate_limited_per_address_like_the_api(client):
    for _ in range(60):
        assert (await client.get("/verify-email?token=nothing")).status_code == 410
    limited = await client.get("/verify-email?token=nothing")
    assert limited.status_code == 429 and "Too many attempts" in limited.text
    assert int(limited.headers["retry-after"]) >= 1


async def test_a_used_reset_link_offers_a_new_one_by_email(client, db, valkey, stack):
    account = person()
    email = account["email"].strip().lower()
    await register(client, **account)
    used, csrf = await open_form(client, "/reset-password?token=an-old-or-made-up-token")
    assert used.status_code == 410
    asked = await submit(client, "/forgot-password", csrf, email=email.upper())
    assert asked.status_code == 200 and "Check your email" in asked.text
    token = await emailed_token(db, valkey, stack, email, "reset-password")
    assert "Choose a new password" in (await client.get(f"/reset-password?token={token}")).text
    nobody = await submit(client, "/forgot-password", csrf, email="nobody-here@example.com")
    assert nobody.text == asked.text, "the answer does not tell whether an account exists"
    assert (await client.post("/forgot-password", data={"email": email})).status_code == 403
