"""Domain events and the listeners that react to them.

A domain publishes an event in the transaction that caused it; every listener of that event then runs
in the worker on its own: retried, timed out and dead-lettered apart from the others, so one listener
failing never runs another one twice. Listeners are listed in one place, ``server/listeners.py``::

    Listener("photos.make_variants", on=PHOTO_UPLOADED, run=process_photo, lane=Lane.HEAVY)

Each listener's name is what its queue entries, retries and dead letters carry, so it must be unique
and should stay stable across releases (entries already queued under it are still delivered).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from server.platform.tables import JobOutbox

#: Postgres NOTIFY channel that wakes the worker's relay when an event is committed
OUTBOX_CHANNEL = "harvest_jobs"


class Lane(enum.StrEnum):
    """Work that must not wait behind other work gets its own lane, each with its own bounded slots."""

    #: latency-sensitive and light: notifications, emails, fan-out, deletions
    FAST = "fast"
    #: CPU-bound or slow: image processing
    HEAVY = "heavy"


@dataclass(frozen=True)
class Job:
    """One listener's run of one event."""

    #: the stream entry this run was delivered as
    id: str
    event: str
    listener: str
    payload: dict[str, Any]
    #: 1 on the first try; a retry or a reclaim from a dead worker counts up
    attempt: int


Handler = Callable[[Job], Awaitable[None]]


@dataclass(frozen=True)
class Listener:
    #: unique and stable: queue entries, retries and dead letters are addressed by it
    name: str
    #: the event it reacts to
    on: str
    run: Handler
    lane: Lane = Lane.FAST


class ListenerClash(ValueError):
    """Two listeners share a name, so their queue entries could not be told apart."""


class Listeners:
    """The wired set of listeners, checked once at start-up."""

    def __init__(self, listeners: Iterable[Listener]) -> None:
        self._by_name: dict[str, Listener] = {}
        self._by_event: dict[str, list[Listener]] = {}
        for listener in listeners:
            if listener.name in self._by_name:
                raise ListenerClash(f"two listeners are named {listener.name!r}; listener names must be unique")
            self._by_name[listener.name] = listener
            self._by_event.setdefault(listener.on, []).append(listener)

    def of(self, event: str) -> list[Listener]:
        return self._by_event.get(event, [])

    def named(self, name: str) -> Listener | None:
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[Listener]:
        return iter(self._by_name.values())


async def publish(event: str, payload: Mapping[str, Any]) -> None:
    """Record an event; inside the caller's transaction when there is one, so it exists only if that commits."""
    await JobOutbox.insert(JobOutbox(kind=event, payload=json.dumps(payload)))
    await JobOutbox.raw("SELECT pg_notify({}, '')", OUTBOX_CHANNEL)
