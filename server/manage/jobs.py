"""Queue verbs: what waits in each lane, what waits to be retried, and the dead letters, replayed or purged.

Every job is named by its stream entry id (``1700000000000-0``): the entry's id on its lane while queued, the
id of the entry whose try failed while it waits for a retry, and its dead letter's id once parked. The
milliseconds in an id tell when the entry was written, which is how ``purge --older-than`` picks letters.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from valkey.asyncio import Valkey
from valkey.exceptions import ResponseError

from server.platform.events import Lane
from server.platform.jobs import DEAD, DELAYED, GROUP, STREAMS, DeadLetters
from server.settings import Settings

_ENTRY_ID = re.compile(r"\d+-\d+")
_DURATION = re.compile(r"(\d+)([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


@asynccontextmanager
async def _dead_letters(settings: Settings) -> AsyncIterator[DeadLetters]:
    from server.platform import cache

    valkey = cache.client_for(settings)
    try:
        yield DeadLetters(valkey, keep=settings.config.worker.dead_letters_kept)
    finally:
        await valkey.aclose()


def _written(entry_id: str) -> str:
    """When a stream entry was written, from the milliseconds its id starts with."""
    return datetime.fromtimestamp(int(entry_id.partition("-")[0]) / 1000, UTC).isoformat(timespec="seconds")


def _dead(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    return {
        "id": entry_id,
        "state": "dead",
        "lane": fields.get("lane", ""),
        "event": fields.get("event", ""),
        "listener": fields.get("listener", ""),
        "attempt": int(fields.get("attempt", "1")),
        "error": fields.get("error", ""),
        "at": _written(entry_id),
    }


def _retrying(lane: Lane, member: str, due: float) -> dict[str, Any]:
    job = json.loads(member)
    return {
        "id": job.get("origin", ""),
        "state": "retrying",
        "lane": lane.value,
        "event": job["event"],
        "listener": job["listener"],
        "attempt": int(job["attempt"]),
        "due": datetime.fromtimestamp(due, UTC).isoformat(timespec="seconds"),
        "payload": json.loads(job["payload"]),
    }


async def _in_flight(valkey: Valkey, lane: Lane) -> int:
    try:
        summary = await valkey.xpending(STREAMS[lane], GROUP)
    except ResponseError:
        # No worker has made the consumer group yet (or a flush lost it): nothing can be in flight.
        return 0
    return int(summary["pending"])


async def overview(settings: Settings, limit: int) -> dict[str, Any]:
    """Per lane: entries on the stream, those of them a worker holds, those waiting for a retry; then the
    retries due soonest and the oldest dead letters, ``limit`` of each."""
    async with _dead_letters(settings) as letters:
        valkey = letters.valkey
        lanes, retrying = [], []
        for lane in Lane:
            lanes.append(
                {
                    "lane": lane.value,
                    "queued": int(await valkey.xlen(STREAMS[lane])),
                    "inFlight": await _in_flight(valkey, lane),
                    "retrying": int(await valkey.zcard(DELAYED[lane])),
                }
            )
            if limit > 0:
                due = await valkey.zrange(DELAYED[lane], 0, limit - 1, withscores=True)
                retrying += [_retrying(lane, member, score) for member, score in due]
        retrying.sort(key=lambda job: job["due"])
        dead = [_dead(entry["id"], entry) for entry in await letters.list(limit)] if limit > 0 else []
        for job in retrying:
            del job["payload"]
        return {"lanes": lanes, "retrying": retrying[:limit], "dead": dead, "deadCount": await letters.count()}


def _entry_id(job_id: str) -> str:
    if not _ENTRY_ID.fullmatch(job_id):
        raise ValueError(f"{job_id!r} is not a job id (they look like 1700000000000-0)")
    return job_id


async def show(settings: Settings, job_id: str) -> dict[str, Any]:
    """One job whole, payload included, wherever it is now: dead, waiting for a retry, or on its lane."""
    job_id = _entry_id(job_id)
    async with _dead_letters(settings) as letters:
        valkey = letters.valkey
        for entry_id, fields in await valkey.xrange(DEAD, min=job_id, max=job_id):
            return _dead(entry_id, fields) | {
                "origin": fields.get("origin", ""),
                "payload": json.loads(fields["payload"]),
            }
        for lane in Lane:
            for member, score in await valkey.zrange(DELAYED[lane], 0, -1, withscores=True):
                if json.loads(member).get("origin") == job_id:
                    return _retrying(lane, member, score)
            for entry_id, fields in await valkey.xrange(STREAMS[lane], min=job_id, max=job_id):
                return {
                    "id": entry_id,
                    "state": "in flight" if await _held(valkey, lane, entry_id) else "queued",
                    "lane": lane.value,
                    "event": fields.get("event", ""),
                    "listener": fields.get("listener", ""),
                    "attempt": int(fields.get("attempt", "1")),
                    "at": _written(entry_id),
                    "payload": json.loads(fields.get("payload") or "{}"),
                }
    raise LookupError(f"no job {job_id} in the queue or the dead letters")


async def _held(valkey: Valkey, lane: Lane, entry_id: str) -> bool:
    try:
        return bool(await valkey.xpending_range(STREAMS[lane], GROUP, entry_id, entry_id, 1))
    except ResponseError:
        return False


async def retry(settings: Settings, job_id: str | None, all_dead: bool) -> dict[str, Any]:
    """Replay one dead letter, or every one, with a fresh attempt count (``DeadLetters.replay``)."""
    if (job_id is None) == (not all_dead):
        raise ValueError("give either a dead letter's id or --all-dead")
    async with _dead_letters(settings) as letters:
        if job_id is not None:
            if not await letters.replay(_entry_id(job_id)):
                raise LookupError(f"no dead letter {job_id}")
            return {"retried": [job_id], "deadCount": await letters.count()}
        # Read once, then replay what was read: a letter parked meanwhile (perhaps by this very replay) stays.
        ids = [entry_id for entry_id, _ in await letters.valkey.xrange(DEAD)]
        retried = [entry_id for entry_id in ids if await letters.replay(entry_id)]
        return {"retried": retried, "deadCount": await letters.count()}


def seconds(duration: str) -> int:
    """``90s``, ``30m``, ``12h``, ``7d`` or ``2w`` in seconds."""
    found = _DURATION.fullmatch(duration.strip())
    if found is None:
        raise ValueError(f"{duration!r} is not a duration (such as 30m, 12h, 7d or 2w)")
    return int(found.group(1)) * _SECONDS[found.group(2)]


async def purge(settings: Settings, older_than: str | None) -> dict[str, Any]:
    """Delete the dead letters, all of them or those parked longer ago than ``older_than``."""
    async with _dead_letters(settings) as letters:
        if older_than is None:
            purged = await letters.valkey.xtrim(DEAD, maxlen=0, approximate=False)
        else:
            cutoff_ms = int(datetime.now(UTC).timestamp() * 1000) - seconds(older_than) * 1000
            # Ids start with the milliseconds they were written at, so MINID drops exactly the older letters.
            purged = await letters.valkey.xtrim(DEAD, minid=max(cutoff_ms, 0), approximate=False)
        return {"purged": int(purged), "deadCount": await letters.count()}
