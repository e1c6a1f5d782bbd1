"""Liveness, readiness and the problem-details shape, against the real stack."""

from __future__ import annotations

import os
import signal

from tests.services import Stack


async def test_health_answers_without_touching_dependencies(client):
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_every_dependency_ok(client):
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert set(checks) == {"postgres", "valkey", "storage"}
    assert all(check["ok"] for check in checks.values())


async def test_ready_answers_503_naming_valkey_when_it_stops_answering(client, stack: Stack):
    valkey = stack.processes["valkey"]
    os.kill(valkey.pid, signal.SIGSTOP)
    try:
        response = await client.get("/ready")
    finally:
        os.kill(valkey.pid, signal.SIGCONT)
    assert response.status_code == 503
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "valkey" in body["detail"]
    assert body["checks"]["valkey"]["ok"] is False
    assert body["checks"]["postgres"]["ok"] is True
    assert (await client.get("/ready")).status_code == 200


async def test_unknown_path_is_a_problem_document(client):
    response = await client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 404 and body["title"] and body["type"].startswith("urn:harvest:problem:")
    assert "Traceback" not in response.text


async def test_openapi_schema_and_docs_are_served(client):
    schema = await client.get("/api/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/ready" in paths
    users = {"profile", "preferences", "location", "photos", "photos/{photo_id}", "photos/order", "{user_id}", "export"}
    assert {f"/api/users/{path}" for path in users} <= set(paths)
    assert set(paths["/api/users/profile"]) == {"get", "put", "delete"}
    assert not [path for path in paths if path.startswith("/media")]
    # Every operation declares the one error shape, so generated clients can read any error.
    assert "Problem" in schema.json()["components"]["schemas"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            problem_ref = operation["responses"]["default"]["content"]["application/problem+json"]["schema"]["$ref"]
            assert problem_ref == "#/components/schemas/Problem", (method, path)
    assert (await client.get("/api/docs")).status_code == 200
