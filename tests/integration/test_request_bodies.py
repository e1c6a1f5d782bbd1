"""JSON bodies that cannot be read are the client's mistake: a 400 problem on every endpoint, never a 500."""

from __future__ import annotations

import pytest

from tests.factories import bearer, register

DEEP = ("[" * 2000 + "]" * 2000).encode()  # 4 KB, deeper than Python's recursion limit
NOT_UTF8 = b'{"email": "\xff\xfe@example.com", "password": "x"}'


@pytest.mark.parametrize(("body", "detail"), [(DEEP, "nested too deeply"), (NOT_UTF8, "not valid UTF-8")])
@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register", "/api/auth/refresh"])
async def test_an_unreadable_body_to_a_public_endpoint_is_a_400_problem(client, path, body, detail):
    response = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert detail in response.json()["detail"]


@pytest.mark.parametrize("body", [DEEP, NOT_UTF8, b'{"bio": ' + DEEP + b"}"])
async def test_an_unreadable_body_from_a_signed_in_caller_is_a_400_problem(client, body):
    me = await register(client)
    headers = {"content-type": "application/json"} | bearer(me["accessToken"])
    for method, path in (("PUT", "/api/users/photos/order"), ("PUT", "/api/users/profile")):
        response = await client.request(method, path, content=body, headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
