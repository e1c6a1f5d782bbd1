"""What ``harvestctl bench`` needs from inside: synthetic people, a phone-like photo, the image
pipeline timed on its own, and the job lanes timed through the running workers. Bench people have
addresses under ``bench.invalid`` and are erased after."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import io
import math
import os
import time
import uuid
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from PIL import Image
from valkey.asyncio import Valkey

from server import settings as settings_module
from server.auth import passwords
from server.auth.roles import Role
from server.auth.service import AuthService
from server.auth.tables import User
from server.platform import cache, images
from server.platform.events import Job, Lane, publish
from server.platform.jobs import STREAMS
from server.privacy import registry

DOMAIN = "bench.invalid"
#: a notification-sized event: its listener only notes how long it waited
PING = "bench.ping"
#: a photo-sized event: its listener runs the image pipeline on the bench photo
PHOTO = "bench.photo"
_PHOTO_KEY = "harvest:bench:photo"
_DELAYS_KEY = "harvest:bench:delays:{run}"


def phone_photo() -> bytes:
    """A 12 MP JPEG shaped like a phone's: noisy detail, an orientation tag and GPS in EXIF."""
    noise = Image.effect_noise((4032, 3024), 40).convert("RGB")
    gradient = Image.linear_gradient("L").resize((4032, 3024)).convert("RGB")
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "Bench", 6
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    out = io.BytesIO()
    Image.blend(noise, gradient, 0.6).save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def time_pipeline(count: int, threads: int, sample: bytes, max_pixels: int) -> float:
    """Photos per second through the worker's image pipeline with ``threads`` at work."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda _: images.make_variants(sample, max_pixels), range(count)))
    return count / (time.perf_counter() - started)


def images_bench(count: int, max_pixels: int, sample_path: str | None) -> dict[str, Any]:
    sample = phone_photo()
    if sample_path:
        with open(sample_path, "wb") as out:
            out.write(sample)
    images.make_variants(sample, max_pixels)  # warm up: codecs load on first use
    cores = os.cpu_count() or 1
    one = time_pipeline(count, 1, sample, max_pixels)
    every = time_pipeline(count, cores, sample, max_pixels)
    return {
        "photos": count,
        "sampleBytes": len(sample),
        "cores": cores,
        "perSecondOneCore": one,
        "perSecondAllCores": every,
    }


async def create_people(service: AuthService, count: int) -> dict[str, Any]:
    """Accounts nobody can sign in to with a password, each with a fresh login."""
    unusable = await passwords.unusable_hash()
    now = dt.datetime.now(dt.UTC)
    people = []
    for _ in range(count):
        user_id = uuid.uuid4()
        await User.insert(
            User(
                id=user_id,
                email=f"bench-{user_id.hex[:16]}@{DOMAIN}",
                password_hash=unusable,
                first_name="Bench",
                date_of_birth=dt.date(1990, 1, 1),
                gender="woman",
                email_verified_at=now,
                created_at=now,
            )
        )
        pair = await service.open_session(user_id, Role.USER, "harvestctl bench")
        people.append({"id": str(user_id), "accessToken": pair.access_token})
    return {"people": people}


async def erase_people(service: AuthService) -> dict[str, Any]:
    """Erase every bench account, through the same erasure a person's own deletion runs."""
    rows = await User.select(User.id).where(User.email.like(f"bench-%@{DOMAIN}"))
    for row in rows:
        await service.end_all_sessions(row["id"])
        await registry.erase(service.db, service.valkey, row["id"])
    return {"erased": len(rows)}


@functools.cache
def _valkey() -> Valkey:
    return cache.client_for(settings_module.current())


@functools.cache
def _photo() -> bytes:
    return phone_photo()


async def note_ping(job: Job) -> None:
    """Listener of PING: how long the event took from its commit to its listener, in seconds."""
    key = _DELAYS_KEY.format(run=job.payload["run"])
    async with _valkey().pipeline(transaction=True) as pipe:
        pipe.rpush(key, time.time() - job.payload["publishedAt"])
        pipe.expire(key, 3600)
        await pipe.execute()


async def make_bench_variants(job: Job) -> None:
    """Listener of PHOTO: the work of a real upload on the bench photo, with nothing stored."""
    max_pixels = settings_module.current().config.photos.max_megapixels * 1_000_000
    # Made off the loop: drawing 12 MP of noise would stall the fast lane this bench is measuring.
    photo = await asyncio.to_thread(_photo)
    await images.run(images.make_variants, photo, max_pixels)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of values already sorted."""
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))]


async def _time_pings(valkey: Valkey, count: int, interval: float, timeout: float) -> dict[str, float]:
    """Publish ``count`` pings ``interval`` apart, each in its own transaction as a request would, and wait
    for every listener's note."""
    run = uuid.uuid4().hex
    key = _DELAYS_KEY.format(run=run)
    for _ in range(count):
        await publish(PING, {"run": run, "publishedAt": time.time()})
        await asyncio.sleep(interval)
    deadline = time.monotonic() + timeout
    while await cast(Awaitable[int], valkey.llen(key)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the workers ran {await cast(Awaitable[int], valkey.llen(key))} of {count} bench pings in {timeout:.0f}s"
            )
        await asyncio.sleep(0.1)
    delays = sorted(float(value) * 1000 for value in await cast(Awaitable[list[str]], valkey.lrange(key, 0, -1)))
    await valkey.delete(key)
    return {"p50Ms": percentile(delays, 0.5), "p99Ms": percentile(delays, 0.99), "maxMs": delays[-1]}


async def _wait_photos_done(valkey: Valkey, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    await asyncio.sleep(0.5)  # room for the relay to move them from the outbox
    while await valkey.xlen(STREAMS[Lane.HEAVY]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the workers did not finish the bench photo jobs in {timeout:.0f}s")
        await asyncio.sleep(0.1)


async def jobs_bench(pings: int, photos: int, interval_ms: int) -> dict[str, Any]:
    """A notification-sized job's delay from commit to listener: on idle workers, then with ``photos``
    photo-sized jobs published just before the pings, so they are in flight throughout."""
    valkey = _valkey()
    interval = interval_ms / 1000
    # Warm up: each worker's first photo job starts its image helpers and draws the bench photo.
    for _ in range(4):
        await publish(PHOTO, {})
    await _wait_photos_done(valkey, timeout=120)
    idle = await _time_pings(valkey, pings, interval, timeout=120)
    started = time.monotonic()
    for _ in range(photos):
        await publish(PHOTO, {})
    burst = await _time_pings(valkey, pings, interval, timeout=600)
    return {
        "pings": pings,
        "photos": photos,
        "idle": idle,
        "burst": burst,
        "burstSeconds": time.monotonic() - started,
        #: photo jobs not yet finished when the last ping was noted: more than 0 means the burst lasted throughout
        "photosLeftAfterPings": await valkey.xlen(STREAMS[Lane.HEAVY]),
    }
