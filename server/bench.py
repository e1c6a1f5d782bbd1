"""What ``harvestctl bench`` needs from inside: synthetic people, a phone-like photo, and the image
pipeline timed on its own. Bench people have addresses under ``bench.invalid`` and are erased after."""

from __future__ import annotations

import datetime as dt
import io
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image

from server.auth import passwords
from server.auth.roles import Role
from server.auth.service import AuthService
from server.auth.tables import User
from server.platform import images
from server.privacy import registry

DOMAIN = "bench.invalid"


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
