"""The bench's helpers: its accounts work like anyone's and leave nothing behind; the photo it uses
carries the metadata the pipeline must strip; the discovery bench's seeded people are whole accounts that
only ever meet each other, and go without a trace; the notification bench's pushes each arrive once."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import json
import time
import uuid
from typing import Any

from PIL import Image

from server import bench
from server import settings as settings_module
from server.listeners import LISTENERS
from server.matching import candidates, deck, seed
from server.notifications.dispatcher import Dispatcher
from server.notifications.providers.base import Provider
from server.notifications.providers.bench import BenchProvider
from server.platform import database
from server.platform.events import Listeners
from server.platform.jobs import OutboxRelay, Worker
from server.platform.mail import Mailer
from server.web.auth import auth_service
from tests.factories import bearer, manage, people_in_postgres
from tests.integration.matching.crowd import ids, listed_neighbours, whole_deck


async def test_bench_people_are_signed_in_and_erased_without_a_trace(client, app, db):
    service = auth_service(app.state)
    people = (await bench.create_people(service, 3))["people"]
    for person in people:
        assert (await client.get("/api/users/profile", headers=bearer(person["accessToken"]))).status_code == 200
    await client.put("/api/users/location", json={"lat": 1, "lng": 2}, headers=bearer(people[0]["accessToken"]))
    assert await bench.erase_people(service) == {"erased": 3}
    assert await db.pool.fetchval("SELECT count(*) FROM users") == 0
    assert await db.pool.fetchval("SELECT count(*) FROM locations") == 0
    assert (await client.get("/api/users/profile", headers=bearer(people[1]["accessToken"]))).status_code == 401


def test_the_bench_photo_is_a_12_mp_jpeg_with_gps_and_the_pipeline_timing_reports_rates(tmp_path):
    sample = tmp_path / "sample.jpg"
    figures = bench.images_bench(2, 40_000_000, str(sample))
    image = Image.open(io.BytesIO(sample.read_bytes()))
    assert image.format == "JPEG" and image.size == (4032, 3024) and image.getexif().get_ifd(0x8825)
    assert figures["perSecondOneCore"] > 0 and figures["perSecondAllCores"] > 0 and figures["cores"] >= 1


SEEDED = 2000
#: every table a seeded person has a row in, with the column naming the person
PERSON_TABLES = {
    "users": "id",
    "profiles": '"user"',
    "preferences": '"user"',
    "locations": '"user"',
    "photos": '"user"',
    "matching_candidates": "id",
}


async def _rows_per_table(db) -> dict[str, int]:
    return {
        table: await db.pool.fetchval(f"SELECT count(*) FROM {table}")
        for table in (*PERSON_TABLES, "swipes", "auth_sessions")
    }


async def test_seeded_people_are_whole_accounts_seen_only_by_each_other_and_purged_without_touching_anyone_else(
    app, client, db, valkey
):
    aged_30 = dt.date.today() - dt.timedelta(days=int(30.5 * 365.25))
    real = await listed_neighbours(app, client, valkey, 3, gender="woman", dateOfBirth=aged_30)
    real_ids = {uuid.UUID(ids(person)) for person in real}
    before = await _rows_per_table(db)

    answer = manage("bench-discovery-seed", str(SEEDED))
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["seeded"]["people"] == SEEDED
    again = json.loads(manage("bench-discovery-seed", str(SEEDED)).stdout)
    assert again["existing"] == SEEDED and again["seeded"]["people"] == 0  # topped up, not doubled

    seeded_ids = {row["id"] for row in await db.pool.fetch(f"SELECT id FROM users WHERE email LIKE '%@{seed.DOMAIN}'")}
    assert len(seeded_ids) == SEEDED and not seeded_ids & real_ids
    for table, person in PERSON_TABLES.items():
        found = await db.pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE {person} = ANY($1::uuid[])", list(seeded_ids)
        )
        assert found == SEEDED, table
    marked = await db.pool.fetch("SELECT id, synthetic, listed FROM matching_candidates")
    assert {row["id"] for row in marked if row["synthetic"]} == seeded_ids
    assert sum(row["listed"] for row in marked if row["synthetic"]) > 0.9 * SEEDED

    # A seeded row is what the discovery index itself works out from the person's account, profile and place.
    sample = sorted(seeded_ids)[:25]
    compared = "region, area, cell_lat, cell_lng, gender, born, wants_genders, min_age, max_age, max_km, goal, wants_goals, interests, listed"
    written = await db.pool.fetch(
        f"SELECT {compared} FROM matching_candidates WHERE id = ANY($1::uuid[]) ORDER BY id", sample
    )
    for person in sample:
        await candidates.refresh(person)
    rebuilt = await db.pool.fetch(
        f"SELECT {compared} FROM matching_candidates WHERE id = ANY($1::uuid[]) ORDER BY id", sample
    )
    assert [dict(row) for row in rebuilt] == [dict(row) for row in written]

    # The real people see only each other, though plenty of seeded people would fit them.
    shown = {uuid.UUID(card["id"]) for card in await whole_deck(client, real[0], limit=50)}
    assert shown == real_ids - {uuid.UUID(ids(real[0]))}
    async with database.connection(db) as connection:
        me = await deck.seeker(connection, uuid.UUID(ids(real[0])))
        assert me is not None and not me.synthetic
        as_if_seeded, _ = await deck.compute(connection, dataclasses.replace(me, synthetic=True), [])
        assert as_if_seeded and set(as_if_seeded) <= seeded_ids
        decks = []
        for caller in sorted(seeded_ids)[:40]:
            found, _ = await deck.compute(connection, await deck.seeker(connection, caller), [])
            decks.append(set(found))
    assert all(found <= seeded_ids for found in decks) and sum(1 for found in decks if found) > 20

    signed = manage("bench-discovery-logins", "20")
    assert signed.returncode == 0, signed.stderr
    people = json.loads(signed.stdout)["people"]
    response = await client.get("/api/matches/potential", headers=bearer(people[0]["accessToken"]))
    assert response.status_code == 200 and {card["id"] for card in response.json()["items"]} <= {
        str(i) for i in seeded_ids
    }
    assert await db.pool.fetchval("SELECT count(*) FROM swipes") > 0

    purged = manage("bench-discovery-purge")
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout)["people"] == SEEDED
    assert await _rows_per_table(db) == before
    assert {row["id"] for row in await db.pool.fetch("SELECT id FROM users")} == real_ids
    assert (await client.get("/api/matches/potential", headers=bearer(people[0]["accessToken"]))).status_code == 401


async def test_the_chat_bench_people_are_matched_pairs_and_purged_without_touching_anyone_else(client, app, db):
    real = await people_in_postgres(app, {}, {})
    seeded = manage("bench-chat-seed", "3", "2")
    assert seeded.returncode == 0, seeded.stderr
    assert await db.pool.fetchval("SELECT count(*) FROM users WHERE email LIKE 'chat-%'") == 8
    assert await db.pool.fetchval("SELECT count(*) FROM matches") == 3

    purged = manage("bench-chat-purge")

    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout)["people"] == 8
    assert await db.pool.fetchval("SELECT count(*) FROM matches") == 0
    assert {str(row["id"]) for row in await db.pool.fetch("SELECT id FROM users")} == {ids(p) for p in real}


async def _notifications_bench(db, valkey, providers: dict[str, Provider], *args: str) -> dict[str, Any]:
    """``bench-notifications`` as harvestctl runs it, in a process of its own with its own receiver, while this
    loop does what the appliance's worker process does: relay, listeners, and a dispatcher with these providers."""
    settings = settings_module.current()
    listeners = Listeners(LISTENERS)
    parts = (
        OutboxRelay(valkey, db, listeners, poll_seconds=0.1),
        Worker(valkey, listeners, consumer="bench-test", block_ms=10),
        Dispatcher(db, settings, providers, Mailer(settings), poll_seconds=0.1),
    )
    stop = asyncio.Event()
    running = [asyncio.create_task(part.run(stop)) for part in parts]
    try:
        answer = await asyncio.to_thread(manage, "bench-notifications", *args)
    finally:
        stop.set()
        await asyncio.gather(*running)
    assert answer.returncode == 0, answer.stderr
    figures: dict[str, Any] = json.loads(answer.stdout)
    return figures


async def test_the_notifications_bench_follows_each_new_match_to_one_push_and_removes_its_people(app, db, valkey):
    real = await people_in_postgres(app, {}, {})

    figures = await _notifications_bench(db, valkey, {"bench": BenchProvider()}, "60", "--timeout", "30")

    assert figures["events"] == figures["pushesExpected"] == figures["pushesReceived"] == 60, figures
    assert (figures["missing"], figures["duplicates"], figures["strays"]) == (0, 0, 0)
    assert figures["deliveries"] == [{"state": "sent", "detail": None, "count": 60}]
    assert figures["eventsPerSecond"] > 0
    delay = figures["delay"]
    assert 0 < delay["p50Ms"] <= delay["p99Ms"] <= delay["maxMs"]
    assert figures["purged"] == 60
    assert {str(row["id"]) for row in await db.pool.fetch("SELECT id FROM users")} == {ids(p) for p in real}
    for table in ("matches", "notification_devices", "notifications", "notification_deliveries"):
        assert await db.pool.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_the_notifications_bench_stops_waiting_once_workers_without_the_bench_provider_drop_every_push(
    app, db, valkey
):
    started = time.monotonic()

    figures = await _notifications_bench(db, valkey, {}, "20", "--timeout", "50")

    assert time.monotonic() - started < 25
    assert (figures["pushesReceived"], figures["missing"]) == (0, 20)
    assert figures["deliveries"] == [{"state": "dropped", "detail": "bench is not configured", "count": 20}]
    assert figures["purged"] == 20 and await db.pool.fetchval("SELECT count(*) FROM users") == 0
