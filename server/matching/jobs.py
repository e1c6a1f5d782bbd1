"""Matching's jobs: keep each person's discovery row in step with its sources, announce matches, and count
exposures."""

from __future__ import annotations

import functools
import uuid

from valkey.asyncio import Valkey

from server import settings
from server.chat import fanout
from server.matching import candidates, deck
from server.matching.service import MatchService
from server.photos.media import MediaSigner
from server.photos.service import PhotoService
from server.platform import cache, database
from server.platform.events import Job
from server.platform.storage import Storage
from server.profiles.service import ProfileService


async def refresh_candidate(job: Job) -> None:
    """Rebuild the person's row from its sources (queued for everyone by an upgrade, or by an operator);
    running it twice, or late, gives the same row."""
    await candidates.refresh(uuid.UUID(job.payload["userId"]))


@functools.cache
def _valkey() -> Valkey:
    return cache.client_for(settings.current())


@functools.cache
def _matches() -> MatchService:
    current = settings.current()
    valkey = _valkey()
    photos = PhotoService(
        database.engine(), valkey, Storage(current), MediaSigner.from_settings(current), current.config.photos
    )
    profiles = ProfileService(database.engine(), valkey, photos, current.config.location)
    return MatchService(database.engine(), profiles, current.config.matching)


async def announce_match(job: Job) -> None:
    """Send ``match_created`` to the person's open sockets (at most once: a socket that misses it finds the
    match in GET /api/matches/my-matches). A match ended or erased since is not announced."""
    user_id = uuid.UUID(job.payload["userId"])
    match = await _matches().standing(user_id, uuid.UUID(job.payload["matchId"]))
    if match is not None:
        await fanout.deliver(_valkey(), [user_id], fanout.frame("match_created", {"match": match}))


async def record_exposures(job: Job) -> None:
    await deck.record_exposures(_valkey(), job.payload["batch"])
