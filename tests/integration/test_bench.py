"""The bench's helpers: its accounts work like anyone's and leave nothing behind; the photo it uses
carries the metadata the pipeline must strip."""

from __future__ import annotations

import io

from PIL import Image

from server import bench
from server.web.auth import auth_service
from tests.factories import bearer


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
