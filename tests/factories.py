"""What many tests make: people signed up through the API, photos uploaded, provider ID tokens, worker runs.

One module, so a test reads its setup in the words of the product and a change to sign-up or upload is
made in one place.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx
from litestar import Litestar
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey

from server import settings as settings_module
from server.listeners import LISTENERS
from server.matching import candidates
from server.notifications import providers
from server.notifications.dispatcher import Dispatcher
from server.platform.events import Listeners, publish
from server.platform.jobs import OutboxRelay, Worker
from server.platform.mail import Mailer
from server.platform.storage import Storage
from tests.integration.photos import samples

PASSWORD = "correct horse battery staple"

#: the identity providers' issuers and the client ids the test stack's harvest.toml accepts
ISS = {"google": "https://accounts.google.com", "apple": "https://appleid.apple.com"}
AUD = {"google": "test-google-client", "apple": "test-apple-client"}


def person(**overrides: Any) -> dict[str, Any]:
    """A sign-up body; the email is new each time and written the way people type it."""
    body = {
        "email": f"  Alex.{uuid.uuid4().hex[:8]}@Example.COM ",
        "password": PASSWORD,
        "firstName": "Alex",
        "dateOfBirth": "1995-04-02",
        "gender": "nonbinary",
    }
    return body | overrides


async def register(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """Sign a new person up; returns the API's answer (user and token pair)."""
    response = await client.post("/api/auth/register", json=person(**overrides))
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fields(response: httpx.Response) -> set[str]:
    """The fields a validation problem names."""
    return {error["field"] for error in response.json().get("errors", [])}


def provider_claims(provider: str, email: str, **overrides: Any) -> dict[str, Any]:
    """The claims of a Google or Apple ID token for ``email``."""
    now = int(time.time())
    base = {
        "iss": ISS[provider],
        "aud": AUD[provider],
        "sub": uuid.uuid4().hex,
        "email": email,
        "email_verified": True,
        "iat": now,
        "exp": now + 600,
        "given_name": "Robin",
    }
    return base | overrides


async def run_jobs(valkey: Valkey, db: PostgresEngine) -> None:
    """What the worker process does: relay committed jobs, run them, and send the pushes and emails due now,
    until none are left."""
    listeners = Listeners(LISTENERS)
    relay = OutboxRelay(valkey, db, listeners)
    worker = Worker(valkey, listeners, consumer="test", block_ms=10)
    await worker.ensure_groups()
    settings = settings_module.current()
    dispatcher = Dispatcher(db, settings, providers.providers(settings), Mailer(settings))
    try:
        # Until nothing is left: a job may publish events of its own (a processed photo changes what others see).
        moved = await relay.relay()
        while True:
            while await worker.step():
                await worker.settled()
            while await dispatcher.step():
                pass
            if not moved:
                return
            moved = await relay.relay()
    finally:
        for provider in dispatcher.providers.values():
            await provider.aclose()


def token_from(message: EmailMessage) -> str:
    """The token in an account email's link."""
    found = re.search(r"harvest://app/[\w-]+\?token=([\w-]+)", str(message.get_content()))
    assert found, message.get_content()
    return found.group(1)


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    """Run one of the server's management verbs as harvestctl does."""
    return subprocess.run(
        [sys.executable, "-m", "server.manage", *args], capture_output=True, text=True, timeout=60, check=False
    )


async def upload(
    client: httpx.AsyncClient, token: str, data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg"
) -> httpx.Response:
    return await client.post("/api/users/photos", files={"file": (name, data, content_type)}, headers=bearer(token))


async def uploaded(client: httpx.AsyncClient, token: str, data: bytes | None = None) -> dict[str, Any]:
    """Upload a photo (a small PNG unless given one) and return the accepted photo."""
    response = await upload(client, token, data or samples.png())
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def my_photos(client: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    response = await client.get("/api/users/profile", headers=bearer(token))
    assert response.status_code == 200, response.text
    photos: list[dict[str, Any]] = response.json()["photos"]
    return photos


async def fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET a signed media URL (path and query; the host is the appliance's public name)."""
    parts = urlsplit(url)
    assert "harvest-" not in url, "a bucket name leaked into a URL"
    return await client.get(f"{parts.path}?{parts.query}")


def objects(storage: Storage) -> set[str]:
    """Every object in every bucket, as purpose/name."""
    return {
        f"{purpose}/{obj.object_name}"
        for purpose, bucket in storage.buckets.items()
        for obj in storage.client.list_objects(bucket, recursive=True)
    }


async def people_in_postgres(app: Litestar, *specs: dict[str, Any]) -> list[dict[str, Any]]:
    """People made straight in Postgres, each signed in on one device, answered in ``register``'s shape.

    For tests that need more people than signing up allows in time (each sign-up hashes a password and
    counts against the address's hourly limit). A spec may set ``firstName``, ``dateOfBirth`` (a date)
    and ``gender``; these people have no usable password, so they cannot sign in or erase their account.
    """
    pool = app.state.db.pool
    rows = []
    for spec in specs:
        body = {"firstName": "Alex", "dateOfBirth": dt.date(1995, 4, 2), "gender": "nonbinary"} | spec
        rows.append((uuid.uuid4(), uuid.uuid4(), f"made.{uuid.uuid4().hex[:12]}@example.com", body))
    await pool.executemany(
        "INSERT INTO users (id, email, password_hash, first_name, date_of_birth, gender, created_at) "
        "VALUES ($1, $2, '!', $3, $4, $5, now())",
        [(uid, email, b["firstName"], b["dateOfBirth"], b["gender"]) for uid, _, email, b in rows],
    )
    await pool.executemany(
        "INSERT INTO auth_sessions (id, \"user\", device, created_at, last_seen_at) VALUES ($1, $2, 'test', now(), now())",
        [(sid, uid) for uid, sid, _, _ in rows],
    )
    issuer = app.state.token_issuer
    return [
        {
            "user": {"id": str(uid), "email": email, "firstName": b["firstName"], "gender": b["gender"]},
            "accessToken": issuer.access_token(uid, sid, "user"),
        }
        for uid, sid, email, b in rows
    ]


async def with_approved_photo(db: PostgresEngine, *user_ids: str) -> None:
    """One approved photo row each (no pixels behind it), with a refresh of each person's discovery row queued, so
    the next ``run_jobs`` lists them: far quicker than uploading and processing a file."""
    assert db.pool is not None
    await db.pool.executemany(
        'INSERT INTO photos (id, "user", state, position, source_format, width, height, blurhash, created_at, '
        "processed_at) VALUES (gen_random_uuid(), $1, 'approved', 0, 'jpeg', 800, 1000, 'LEHV6nWB2yk8', now(), now())",
        [(uuid.UUID(user_id),) for user_id in user_ids],
    )
    for user_id in user_ids:
        await publish(candidates.REFRESH, {"userId": user_id})
