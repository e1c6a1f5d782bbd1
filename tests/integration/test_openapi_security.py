"""The OpenAPI document says which operations need a bearer token, and says it truthfully."""

from __future__ import annotations

import re
import uuid

PUBLIC = {
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/refresh"),
    ("post", "/api/auth/forgot-password"),
    ("post", "/api/auth/reset-password"),
    ("post", "/api/auth/verify-email"),
}


def _example(parameter: dict) -> str:
    schema = parameter.get("schema", {})
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    return "1" if schema.get("type") == "integer" else "x"


async def test_every_operation_declares_a_token_exactly_when_it_refuses_a_caller_without_one(client):
    document = (await client.get("/api/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "the `accessToken` from registration, login or refresh",
    }
    checked = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            parameters = {p["name"]: _example(p) for p in operation.get("parameters", []) if p["in"] == "path"}
            url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda found, known=parameters: known.get(found.group(1), "x"), path)
            content = operation.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in content:
                body: dict = {"files": {"file": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")}}
            else:
                body = {"json": {}} if method != "get" else {}
            response = await client.request(method.upper(), url, **body)
            declared = operation.get("security") == [{"bearer": []}]
            assert declared == (response.status_code == 401), (method, path, response.status_code, declared)
            checked.append((method, path, declared))
    assert {(m, p) for m, p, declared in checked if not declared} >= PUBLIC
    assert not any(declared for m, p, declared in checked if (m, p) in PUBLIC)
    assert sum(declared for _, _, declared in checked) >= 10
