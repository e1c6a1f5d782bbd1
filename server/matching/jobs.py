"""Matching's jobs: keep each person's discovery row in step with its sources, and count exposures."""

from __future__ import annotations

import functools
import uuid

from valkey.asyncio import Valkey

from server import settings
from server.matching import candidates, deck
from server.platform import cache
from server.platform.events import Job


async def refresh_candidate(job: Job) -> None:
    """Rebuild the person's row from its sources; running it twice, or late, gives the same row."""
    await candidates.refresh(uuid.UUID(job.payload["userId"]))


@functools.cache
def _valkey() -> Valkey:
    return cache.client_for(settings.current())


async def record_exposures(job: Job) -> None:
    await deck.record_exposures(_valkey(), job.payload["batch"])
